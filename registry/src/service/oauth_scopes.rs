//! The OAuth scopes as people read them: Quay's titles and descriptions,
//! shown on the consent page and in assigned authorizations.

/// What a scope lets an application do, as the consent page shows it.
#[derive(Debug, Clone, Copy)]
pub struct ScopeInfo {
    pub scope: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub icon: &'static str,
    pub dangerous: bool,
}

/// Quay's scope descriptions, in its order.
pub const SCOPE_INFO: &[ScopeInfo] = &[
    ScopeInfo {
        scope: "repo:read",
        title: "View all visible repositories",
        description: "This application will be able to view and pull all repositories visible to the granting user or robot account",
        icon: "fa-hdd-o",
        dangerous: false,
    },
    ScopeInfo {
        scope: "repo:write",
        title: "Read/Write to any accessible repositories",
        description: "This application will be able to view, push and pull to all repositories to which the granting user or robot account has write access",
        icon: "fa-hdd-o",
        dangerous: false,
    },
    ScopeInfo {
        scope: "repo:admin",
        title: "Administer Repositories",
        description: "This application will have administrator access to all repositories to which the granting user or robot account has access",
        icon: "fa-hdd-o",
        dangerous: false,
    },
    ScopeInfo {
        scope: "repo:create",
        title: "Create Repositories",
        description: "This application will be able to create repositories in to any namespaces that the granting user or robot account is allowed to create repositories",
        icon: "fa-plus",
        dangerous: false,
    },
    ScopeInfo {
        scope: "user:read",
        title: "Read User Information",
        description: "This application will be able to read user information such as username and email address.",
        icon: "fa-user",
        dangerous: false,
    },
    ScopeInfo {
        scope: "user:admin",
        title: "Administer User",
        description: "This application will be able to administer your account including creating robots and granting them permissions to your repositories. You should have absolute trust in the requesting application before granting this permission.",
        icon: "fa-gear",
        dangerous: true,
    },
    ScopeInfo {
        scope: "org:admin",
        title: "Administer Organization",
        description: "This application will be able to administer your organizations including creating robots, creating teams, adjusting team membership, and changing billing settings. You should have absolute trust in the requesting application before granting this permission.",
        icon: "fa-gear",
        dangerous: true,
    },
    ScopeInfo {
        scope: "super:user",
        title: "Super User Access",
        description: "This application will be able to administer your installation including managing users, managing organizations and other features found in the superuser panel. You should have absolute trust in the requesting application before granting this permission.",
        icon: "fa-street-view",
        dangerous: true,
    },
];

/// The descriptions of the known scopes of a scope string (unknown ones
/// are left out; none known means the request names nothing to grant).
pub fn scope_info(scope: &str) -> Vec<ScopeInfo> {
    let named: Vec<&str> = scope.split([' ', ',']).filter(|s| !s.is_empty()).collect();
    SCOPE_INFO
        .iter()
        .filter(|i| named.contains(&i.scope))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_info_lists_only_known_scopes() {
        let info = scope_info("repo:read,bogus super:user");
        let names: Vec<&str> = info.iter().map(|i| i.scope).collect();
        assert_eq!(names, ["repo:read", "super:user"]);
        assert!(scope_info("bogus").is_empty());
        assert!(info[1].dangerous && !info[0].dangerous);
    }
}
