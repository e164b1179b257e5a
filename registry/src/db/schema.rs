//! Table definitions shared by the PostgreSQL and SQLite migrations.

diesel::table! {
    #[sql_name = "user"]
    users (id) {
        id -> BigInt,
        uuid -> Text,
        username -> Text,
        email -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        organization -> Bool,
        robot -> Bool,
        enabled -> Bool,
        removed_tag_expiration_s -> BigInt,
        creation_date -> BigInt,
        verified -> Bool,
        superuser -> Bool,
        invalid_login_attempts -> Integer,
        last_invalid_login_ms -> Nullable<BigInt>,
        last_accessed_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    repository (id) {
        id -> BigInt,
        namespace_user_id -> BigInt,
        name -> Text,
        visibility -> Text,
        description -> Nullable<Text>,
        kind -> Text,
        state -> Integer,
        created_ms -> BigInt,
    }
}

diesel::table! {
    imagestorage (id) {
        id -> BigInt,
        uuid -> Text,
        content_checksum -> Text,
        image_size -> BigInt,
        created_ms -> BigInt,
    }
}

diesel::table! {
    uploadedblob (id) {
        id -> BigInt,
        repository_id -> BigInt,
        blob_id -> BigInt,
        uploaded_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    blobupload (id) {
        id -> BigInt,
        repository_id -> BigInt,
        uuid -> Text,
        byte_count -> BigInt,
        sha_state -> Nullable<Binary>,
        chunk_count -> Integer,
        lock_token -> Nullable<Text>,
        locked_until_ms -> Nullable<BigInt>,
        created_ms -> BigInt,
        updated_ms -> BigInt,
        lock_holder -> Nullable<Text>,
    }
}

diesel::table! {
    manifest (id) {
        id -> BigInt,
        repository_id -> BigInt,
        digest -> Text,
        media_type -> Text,
        manifest_bytes -> Binary,
        config_media_type -> Nullable<Text>,
        artifact_type -> Nullable<Text>,
        subject -> Nullable<Text>,
        layers_compressed_size -> BigInt,
        created_ms -> BigInt,
    }
}

diesel::table! {
    manifestblob (id) {
        id -> BigInt,
        repository_id -> BigInt,
        manifest_id -> BigInt,
        blob_id -> BigInt,
    }
}

diesel::table! {
    manifestchild (id) {
        id -> BigInt,
        repository_id -> BigInt,
        manifest_id -> BigInt,
        child_manifest_id -> BigInt,
    }
}

diesel::table! {
    tag (id) {
        id -> BigInt,
        name -> Text,
        repository_id -> BigInt,
        manifest_id -> BigInt,
        lifetime_start_ms -> BigInt,
        lifetime_end_ms -> Nullable<BigInt>,
        hidden -> Bool,
        reversion -> Bool,
        immutable -> Bool,
    }
}

diesel::table! {
    team (id) {
        id -> BigInt,
        name -> Text,
        organization_id -> BigInt,
        role -> Text,
        description -> Text,
    }
}

diesel::table! {
    teammember (id) {
        id -> BigInt,
        user_id -> BigInt,
        team_id -> BigInt,
    }
}

diesel::table! {
    repositorypermission (id) {
        id -> BigInt,
        repository_id -> BigInt,
        user_id -> Nullable<BigInt>,
        team_id -> Nullable<BigInt>,
        role -> Text,
    }
}

diesel::table! {
    robotaccount (id) {
        id -> BigInt,
        robot_id -> BigInt,
        token -> Text,
        description -> Text,
        unstructured_json -> Text,
        created_ms -> BigInt,
        federation_json -> Text,
    }
}

diesel::table! {
    oauthaccesstoken (id) {
        id -> BigInt,
        uuid -> Text,
        authorized_user_id -> BigInt,
        application_client_id -> Nullable<Text>,
        display_name -> Text,
        scope -> Text,
        token_name -> Text,
        token_secret_sha256 -> Text,
        expires_at_ms -> BigInt,
        created_ms -> BigInt,
        last_accessed_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    usersession (id) {
        id -> BigInt,
        token_sha256 -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_ms -> BigInt,
        fresh_login_ms -> BigInt,
        expires_ms -> BigInt,
    }
}

diesel::table! {
    appspecificauthtoken (id) {
        id -> BigInt,
        uuid -> Text,
        user_id -> BigInt,
        title -> Text,
        token_name -> Text,
        token_secret_sha256 -> Text,
        created_ms -> BigInt,
        expiration_ms -> Nullable<BigInt>,
        last_accessed_ms -> Nullable<BigInt>,
        token_secret_encrypted -> Nullable<Text>,
    }
}

diesel::table! {
    apitoken (id) {
        id -> BigInt,
        uuid -> Text,
        subject_user_id -> BigInt,
        creator_id -> Nullable<BigInt>,
        token_name -> Text,
        token_secret_sha256 -> Text,
        scope -> Text,
        display_name -> Text,
        created_ms -> BigInt,
        expires_at_ms -> BigInt,
        revoked_ms -> Nullable<BigInt>,
        last_accessed_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauthapplication (id) {
        id -> BigInt,
        client_id -> Text,
        client_secret -> Text,
        organization_id -> BigInt,
        name -> Text,
        redirect_uri -> Text,
        application_uri -> Text,
        description -> Text,
        avatar_email -> Nullable<Text>,
        created_ms -> BigInt,
    }
}

diesel::table! {
    oauthauthorizationcode (id) {
        id -> BigInt,
        application_id -> BigInt,
        user_id -> BigInt,
        code_name -> Text,
        code_secret_sha256 -> Text,
        scope -> Text,
        redirect_uri -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    oauthassignedtoken (id) {
        id -> BigInt,
        uuid -> Text,
        assigned_user_id -> BigInt,
        application_id -> BigInt,
        redirect_uri -> Nullable<Text>,
        scope -> Text,
        response_type -> Nullable<Text>,
        created_ms -> BigInt,
    }
}

diesel::table! {
    permissionprototype (id) {
        id -> BigInt,
        uuid -> Text,
        org_id -> BigInt,
        activating_user_id -> Nullable<BigInt>,
        delegate_user_id -> Nullable<BigInt>,
        delegate_team_id -> Nullable<BigInt>,
        role -> Text,
    }
}

diesel::table! {
    star (id) {
        id -> BigInt,
        user_id -> BigInt,
        repository_id -> BigInt,
        created_ms -> BigInt,
    }
}

diesel::table! {
    teammemberinvite (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        email -> Nullable<Text>,
        team_id -> BigInt,
        inviter_id -> BigInt,
        invite_token -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    deletedblob (id) {
        id -> BigInt,
        digest -> Text,
        deleted_ms -> BigInt,
    }
}

diesel::table! {
    label (id) {
        id -> BigInt,
        uuid -> Text,
        repository_id -> BigInt,
        manifest_id -> BigInt,
        key -> Text,
        value -> Text,
        media_type -> Text,
        source_type -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    userorganizationquota (id) {
        id -> BigInt,
        namespace_id -> BigInt,
        limit_bytes -> BigInt,
    }
}

diesel::table! {
    quotalimits (id) {
        id -> BigInt,
        quota_id -> BigInt,
        quota_type -> Text,
        percent_of_limit -> Integer,
    }
}

diesel::table! {
    quotanamespacesize (id) {
        id -> BigInt,
        namespace_user_id -> BigInt,
        size_bytes -> BigInt,
        backfill_start_ms -> Nullable<BigInt>,
        backfill_complete -> Bool,
    }
}

diesel::table! {
    quotarepositorysize (id) {
        id -> BigInt,
        repository_id -> BigInt,
        size_bytes -> BigInt,
        backfill_start_ms -> Nullable<BigInt>,
        backfill_complete -> Bool,
    }
}

diesel::table! {
    quotaevent (id) {
        id -> BigInt,
        namespace_user_id -> BigInt,
        kind -> Text,
        size_bytes -> BigInt,
        limit_bytes -> BigInt,
        created_ms -> BigInt,
    }
}

diesel::table! {
    logentry3 (id) {
        id -> BigInt,
        kind -> Text,
        account_id -> Nullable<BigInt>,
        performer_id -> Nullable<BigInt>,
        repository_id -> Nullable<BigInt>,
        datetime_ms -> BigInt,
        ip -> Nullable<Text>,
        metadata_json -> Text,
    }
}

diesel::table! {
    logexport (id) {
        id -> BigInt,
        uuid -> Text,
        requester_id -> BigInt,
        account_id -> Nullable<BigInt>,
        repository_id -> Nullable<BigInt>,
        start_ms -> BigInt,
        end_ms -> BigInt,
        callback_url -> Nullable<Text>,
        callback_email -> Nullable<Text>,
        status -> Text,
        storage_key -> Nullable<Text>,
        expires_ms -> Nullable<BigInt>,
        attempts -> Integer,
        available_after_ms -> BigInt,
        created_ms -> BigInt,
        link_base -> Text,
        processing_expires_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    repositorynotification (id) {
        id -> BigInt,
        uuid -> Text,
        repository_id -> BigInt,
        event -> Text,
        method -> Text,
        title -> Nullable<Text>,
        config_json -> Text,
        event_config_json -> Text,
        number_of_failures -> Integer,
        last_ran_ms -> Nullable<BigInt>,
        created_ms -> BigInt,
    }
}

diesel::table! {
    notificationqueue (id) {
        id -> BigInt,
        notification_id -> BigInt,
        event_data -> Text,
        attempts -> Integer,
        available_after_ms -> BigInt,
        processing_expires_ms -> Nullable<BigInt>,
        created_ms -> BigInt,
        scope -> Text,
    }
}

diesel::table! {
    usernotification (id) {
        id -> BigInt,
        uuid -> Text,
        target_id -> BigInt,
        kind -> Text,
        metadata_json -> Text,
        dismissed -> Bool,
        created_ms -> BigInt,
    }
}

diesel::table! {
    authorizedemail (id) {
        id -> BigInt,
        repository_id -> BigInt,
        email -> Text,
        code -> Text,
        confirmed -> Bool,
    }
}

diesel::table! {
    notificationsent (id) {
        id -> BigInt,
        notification_id -> BigInt,
        dedupe_key -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    userfile (id) {
        id -> BigInt,
        uuid -> Text,
        owner_id -> BigInt,
        mime_type -> Text,
        created_ms -> BigInt,
        uploaded_ms -> Nullable<BigInt>,
        size -> Nullable<BigInt>,
        checksum -> Nullable<Text>,
    }
}

diesel::table! {
    repositorybuild (id) {
        id -> BigInt,
        uuid -> Text,
        repository_id -> BigInt,
        phase -> Text,
        started_ms -> BigInt,
        display_name -> Text,
        job_config_json -> Text,
        resource_key -> Nullable<Text>,
        pull_robot_id -> Nullable<BigInt>,
        manual_user_id -> Nullable<BigInt>,
        error -> Nullable<Text>,
        logs_archived -> Bool,
        heartbeat_ms -> Nullable<BigInt>,
        retries_remaining -> Integer,
        trigger_id -> Nullable<BigInt>,
        manager -> Nullable<Text>,
        job_token_hash -> Nullable<Text>,
        scheduled_ms -> Nullable<BigInt>,
        registered_ms -> Nullable<BigInt>,
        log_sequence -> BigInt,
    }
}

diesel::table! {
    repositorybuildtrigger (id) {
        id -> BigInt,
        uuid -> Text,
        service -> Text,
        repository_id -> BigInt,
        connected_user_id -> BigInt,
        config_json -> Text,
        write_token_sha256 -> Nullable<Text>,
        private_key -> Nullable<Text>,
        pull_robot_id -> Nullable<BigInt>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        disabled_ms -> Nullable<BigInt>,
        successive_failure_count -> Integer,
        successive_internal_error_count -> Integer,
        created_ms -> BigInt,
        auth_token -> Nullable<Text>,
    }
}

diesel::table! {
    buildlogentry (id) {
        id -> BigInt,
        build_id -> BigInt,
        seq -> BigInt,
        message -> Text,
        kind -> Nullable<Text>,
        data_json -> Nullable<Text>,
    }
}

diesel::table! {
    repomirrorconfig (id) {
        id -> BigInt,
        repository_id -> BigInt,
        is_enabled -> Bool,
        mirror_type -> Integer,
        internal_robot_id -> Nullable<BigInt>,
        external_reference -> Text,
        external_registry_username -> Nullable<Text>,
        external_registry_password -> Nullable<Text>,
        external_registry_config -> Text,
        sync_interval -> BigInt,
        sync_start_date -> Nullable<BigInt>,
        sync_expiration_date -> Nullable<BigInt>,
        sync_retries_remaining -> Integer,
        sync_status -> Integer,
        sync_transaction_id -> Text,
        root_rule -> Text,
        skopeo_timeout -> BigInt,
        sync_tags_done -> Integer,
        sync_tags_total -> Integer,
    }
}

diesel::table! {
    orgmirrorconfig (id) {
        id -> BigInt,
        organization_id -> BigInt,
        creation_date -> BigInt,
        is_enabled -> Bool,
        mirror_type -> Integer,
        external_registry_type -> Integer,
        external_registry_url -> Text,
        external_namespace -> Text,
        external_registry_username -> Nullable<Text>,
        external_registry_password -> Nullable<Text>,
        external_registry_config -> Text,
        internal_robot_id -> Nullable<BigInt>,
        repository_filters -> Text,
        visibility -> Text,
        sync_interval -> BigInt,
        sync_start_date -> Nullable<BigInt>,
        sync_expiration_date -> Nullable<BigInt>,
        sync_retries_remaining -> Integer,
        sync_status -> Integer,
        sync_transaction_id -> Text,
        skopeo_timeout -> BigInt,
    }
}

diesel::table! {
    orgmirrorrepository (id) {
        id -> BigInt,
        org_mirror_config_id -> BigInt,
        repository_name -> Text,
        repository_id -> Nullable<BigInt>,
        discovery_date -> BigInt,
        sync_status -> Integer,
        sync_start_date -> Nullable<BigInt>,
        sync_expiration_date -> Nullable<BigInt>,
        sync_retries_remaining -> Integer,
        sync_transaction_id -> Text,
        last_sync_date -> Nullable<BigInt>,
        status_message -> Nullable<Text>,
        creation_date -> BigInt,
    }
}

diesel::table! {
    proxycacheconfig (id) {
        id -> BigInt,
        organization_id -> BigInt,
        upstream_registry -> Text,
        upstream_registry_username -> Nullable<Text>,
        upstream_registry_password -> Nullable<Text>,
        expiration_s -> BigInt,
        insecure -> Bool,
        created_ms -> BigInt,
    }
}

diesel::table! {
    immutabilitypolicy (id) {
        id -> BigInt,
        uuid -> Text,
        namespace_id -> BigInt,
        repository_id -> Nullable<BigInt>,
        tag_pattern -> Text,
        tag_pattern_matches -> Bool,
    }
}

diesel::table! {
    autoprunepolicy (id) {
        id -> BigInt,
        uuid -> Text,
        namespace_id -> BigInt,
        repository_id -> Nullable<BigInt>,
        method -> Text,
        value -> Text,
        tag_pattern -> Nullable<Text>,
        tag_pattern_matches -> Bool,
    }
}

diesel::table! {
    autoprunetask (namespace_id) {
        namespace_id -> BigInt,
        last_ran_ms -> Nullable<BigInt>,
        status -> Text,
    }
}

diesel::joinable!(team -> users (organization_id));
diesel::joinable!(teammember -> team (team_id));
diesel::joinable!(teammember -> users (user_id));
diesel::joinable!(repositorypermission -> repository (repository_id));
diesel::joinable!(repositorypermission -> team (team_id));
diesel::joinable!(robotaccount -> users (robot_id));
diesel::joinable!(oauthaccesstoken -> users (authorized_user_id));
diesel::joinable!(repository -> users (namespace_user_id));
diesel::joinable!(uploadedblob -> imagestorage (blob_id));
diesel::joinable!(manifestblob -> imagestorage (blob_id));
diesel::joinable!(tag -> manifest (manifest_id));
diesel::joinable!(manifest -> repository (repository_id));
diesel::joinable!(usersession -> users (user_id));
diesel::joinable!(appspecificauthtoken -> users (user_id));
diesel::joinable!(apitoken -> users (subject_user_id));
diesel::joinable!(oauthapplication -> users (organization_id));
diesel::joinable!(oauthauthorizationcode -> oauthapplication (application_id));
diesel::joinable!(oauthassignedtoken -> oauthapplication (application_id));
diesel::joinable!(oauthassignedtoken -> users (assigned_user_id));
diesel::joinable!(star -> repository (repository_id));
diesel::joinable!(teammemberinvite -> team (team_id));
diesel::joinable!(label -> manifest (manifest_id));
diesel::joinable!(repositorynotification -> repository (repository_id));
diesel::joinable!(repositorybuild -> repository (repository_id));
diesel::joinable!(buildlogentry -> repositorybuild (build_id));
diesel::joinable!(repositorybuildtrigger -> repository (repository_id));
diesel::joinable!(proxycacheconfig -> users (organization_id));
diesel::joinable!(quotalimits -> userorganizationquota (quota_id));
diesel::joinable!(repomirrorconfig -> repository (repository_id));
diesel::joinable!(orgmirrorrepository -> orgmirrorconfig (org_mirror_config_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    repository,
    imagestorage,
    uploadedblob,
    blobupload,
    manifest,
    manifestblob,
    manifestchild,
    tag,
    team,
    teammember,
    repositorypermission,
    robotaccount,
    oauthaccesstoken,
    usersession,
    appspecificauthtoken,
    apitoken,
    oauthapplication,
    oauthauthorizationcode,
    oauthassignedtoken,
    permissionprototype,
    star,
    teammemberinvite,
    deletedblob,
    label,
    userorganizationquota,
    quotalimits,
    quotanamespacesize,
    quotarepositorysize,
    quotaevent,
    logentry3,
    logexport,
    repositorynotification,
    notificationqueue,
    usernotification,
    authorizedemail,
    notificationsent,
    userfile,
    repositorybuild,
    buildlogentry,
    repositorybuildtrigger,
    repomirrorconfig,
    orgmirrorconfig,
    orgmirrorrepository,
    proxycacheconfig,
    immutabilitypolicy,
    autoprunepolicy,
    autoprunetask,
);

diesel::table! {
    servicekey (name) {
        name -> Text,
        secret -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    federatedlogin (id) {
        id -> BigInt,
        user_id -> BigInt,
        service -> Text,
        service_ident -> Text,
        metadata_json -> Text,
    }
}

diesel::table! {
    teamsync (id) {
        id -> BigInt,
        team_id -> BigInt,
        service -> Text,
        config -> Text,
        transaction_id -> Text,
        last_updated -> Nullable<BigInt>,
    }
}

diesel::joinable!(federatedlogin -> users (user_id));
diesel::joinable!(teamsync -> team (team_id));
diesel::allow_tables_to_appear_in_same_query!(federatedlogin, users);
diesel::allow_tables_to_appear_in_same_query!(federatedlogin, teammember);
diesel::allow_tables_to_appear_in_same_query!(federatedlogin, team);
diesel::allow_tables_to_appear_in_same_query!(teamsync, team);
diesel::allow_tables_to_appear_in_same_query!(teamsync, users);

diesel::table! {
    messages (id) {
        id -> BigInt,
        uuid -> Text,
        content -> Text,
        media_type -> Text,
        severity -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    managedservicekey (id) {
        id -> BigInt,
        kid -> Text,
        name -> Text,
        service -> Text,
        jwk_json -> Text,
        metadata_json -> Text,
        created_ms -> BigInt,
        expiration_ms -> Nullable<BigInt>,
        rotation_duration_s -> Nullable<BigInt>,
        approver_id -> Nullable<BigInt>,
        approval_type -> Nullable<Text>,
        approved_ms -> Nullable<BigInt>,
        approval_notes -> Nullable<Text>,
    }
}

diesel::joinable!(managedservicekey -> users (approver_id));
diesel::allow_tables_to_appear_in_same_query!(managedservicekey, users);

diesel::table! {
    namespacenotification (id) {
        id -> BigInt,
        uuid -> Text,
        namespace_id -> BigInt,
        event -> Text,
        method -> Text,
        title -> Nullable<Text>,
        config_json -> Text,
        event_config_json -> Text,
        number_of_failures -> Integer,
        last_ran_ms -> Nullable<BigInt>,
        created_ms -> BigInt,
    }
}

diesel::joinable!(namespacenotification -> users (namespace_id));
diesel::allow_tables_to_appear_in_same_query!(namespacenotification, users);

diesel::table! {
    pullstatistics (id) {
        id -> BigInt,
        repository_id -> BigInt,
        kind -> Text,
        name -> Text,
        pull_count -> BigInt,
        last_pull_ms -> BigInt,
        manifest_digest -> Text,
    }
}

diesel::table! {
    manifestsecuritystatus (id) {
        id -> BigInt,
        manifest_id -> BigInt,
        repository_id -> BigInt,
        index_status -> Integer,
        error_json -> Text,
        last_indexed_ms -> BigInt,
        indexer_hash -> Text,
        indexer_version -> Integer,
        metadata_json -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(manifestsecuritystatus, manifest);
