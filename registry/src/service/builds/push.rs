//! Push payloads posted to a trigger's webhook, turned into the build
//! metadata Quay keeps (`commit`, `ref`, `default_branch`, `git_url`,
//! `commit_info{url,message,date,author,committer}`).
//!
//! A custom-git trigger takes Quay's own payload and also the push payloads
//! of GitHub, Bitbucket and GitLab, mapped as Quay's handlers map them.
//! Whatever the payload says, `git_url` is the trigger's build source.

use serde_json::{json, Map, Value};

use super::Error;

/// What a payload asks for.
#[derive(Debug, PartialEq)]
pub enum Push {
    /// Build this metadata.
    Build(Value),
    /// Nothing to build (a deleted branch, an event that is not a push).
    Skip,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidRequest(message.into())
}

fn is_hex_commit(s: &str) -> bool {
    s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// `refs/heads|tags|remotes/<name>`.
fn is_git_ref(s: &str) -> bool {
    ["refs/heads/", "refs/tags/", "refs/remotes/"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

fn string_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

/// Sets `path` in `target` to the string found, leaving it out when absent.
fn put(target: &mut Value, path: &[&str], value: Option<&str>) {
    let Some(value) = value else { return };
    let mut node = target;
    for key in &path[..path.len() - 1] {
        if !node[*key].is_object() {
            node[*key] = Value::Object(Map::new());
        }
        node = &mut node[*key];
    }
    node[path[path.len() - 1]] = json!(value);
}

/// Checks Quay's own payload; the error names the first problem.
fn check_custom(p: &Value) -> Result<(), String> {
    if !p.is_object() {
        return Err("payload is not an object".into());
    }
    match p.get("commit") {
        None => return Err("'commit' is a required property".into()),
        Some(c) if !c.as_str().is_some_and(is_hex_commit) => {
            return Err(format!("{c} does not match '^([A-Fa-f0-9]{{7,}})$'"))
        }
        Some(_) => {}
    }
    match p.get("ref") {
        None => return Err("'ref' is a required property".into()),
        Some(r) if !r.as_str().is_some_and(is_git_ref) => {
            return Err(format!("{r} does not match '^refs/(heads|tags|remotes)/(.+)$'"))
        }
        Some(_) => {}
    }
    if !p.get("default_branch").is_some_and(Value::is_string) {
        return Err("'default_branch' is a required property".into());
    }
    let Some(info) = p.get("commit_info") else {
        return Ok(());
    };
    for key in ["url", "message", "date"] {
        if !info.get(key).is_some_and(Value::is_string) {
            return Err(format!("'{key}' is a required property of commit_info"));
        }
    }
    for person in ["author", "committer"] {
        let Some(who) = info.get(person) else { continue };
        for key in ["username", "url", "avatar_url"] {
            if !who.get(key).is_some_and(Value::is_string) {
                return Err(format!("'{key}' is a required property of commit_info.{person}"));
            }
        }
    }
    Ok(())
}

fn is_github(p: &Value) -> bool {
    p["ref"].is_string()
        && p.get("head_commit").is_some_and(|h| h.is_null() || h.is_object())
        && p["repository"]["ssh_url"].is_string()
}

fn github(p: &Value) -> Push {
    let head = &p["head_commit"];
    if head.is_null() {
        return Push::Skip;
    }
    let mut m = json!({});
    put(&mut m, &["commit"], string_at(head, &["id"]));
    put(&mut m, &["ref"], p["ref"].as_str());
    put(
        &mut m,
        &["default_branch"],
        string_at(p, &["repository", "default_branch"]),
    );
    put(&mut m, &["commit_info", "url"], string_at(head, &["url"]));
    put(&mut m, &["commit_info", "message"], string_at(head, &["message"]));
    put(&mut m, &["commit_info", "date"], string_at(head, &["timestamp"]));
    for person in ["author", "committer"] {
        put(
            &mut m,
            &["commit_info", person, "username"],
            string_at(head, &[person, "username"]),
        );
        put(
            &mut m,
            &["commit_info", person, "url"],
            string_at(head, &[person, "html_url"]),
        );
        put(
            &mut m,
            &["commit_info", person, "avatar_url"],
            string_at(head, &[person, "avatar_url"]),
        );
    }
    Push::Build(m)
}

fn is_bitbucket(p: &Value) -> bool {
    p["repository"]["full_name"].is_string() && p["push"]["changes"].is_array()
}

fn bitbucket(p: &Value) -> Push {
    let change = p["push"]["changes"]
        .as_array()
        .and_then(|c| c.last())
        .map(|c| &c["new"]);
    let Some(change) = change.filter(|c| c.is_object()) else {
        return Push::Skip;
    };
    let Some(name) = change["name"].as_str() else {
        return Push::Skip;
    };
    let kind = if change["type"] == "branch" { "heads" } else { "tags" };
    let target = &change["target"];
    let mut m = json!({ "ref": format!("refs/{kind}/{name}") });
    put(&mut m, &["commit"], string_at(target, &["hash"]));
    m["commit_info"] = json!({
        "url": string_at(target, &["links", "html", "href"]).unwrap_or_default(),
    });
    put(&mut m, &["commit_info", "message"], string_at(target, &["message"]));
    put(&mut m, &["commit_info", "date"], string_at(target, &["date"]));
    let author = &target["author"]["user"];
    put(
        &mut m,
        &["commit_info", "author", "username"],
        string_at(author, &["display_name"]),
    );
    put(
        &mut m,
        &["commit_info", "author", "avatar_url"],
        string_at(author, &["links", "avatar", "href"]),
    );
    let actor = &p["actor"];
    put(
        &mut m,
        &["commit_info", "committer", "username"],
        string_at(actor, &["display_name"]),
    );
    put(
        &mut m,
        &["commit_info", "committer", "avatar_url"],
        string_at(actor, &["links", "avatar", "href"]),
    );
    Push::Build(m)
}

fn is_gitlab(p: &Value) -> bool {
    p["ref"].is_string()
        && p.get("checkout_sha").is_some_and(|s| s.is_null() || s.is_string())
        && p["repository"]["git_ssh_url"].is_string()
}

const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

fn gitlab(p: &Value) -> Push {
    let kind = p["object_kind"].as_str().unwrap_or_default();
    let commits = p["commits"].as_array();
    let no_commits = commits.is_none_or(|c| c.is_empty());
    if !matches!(kind, "push" | "tag_push") || (kind == "push" && no_commits) {
        return Push::Skip;
    }
    let Some(sha) = p["checkout_sha"]
        .as_str()
        .or(p["after"].as_str())
        .filter(|s| *s != NO_COMMIT)
    else {
        return Push::Skip;
    };
    let found = commits
        .into_iter()
        .flatten()
        .find(|c| c["id"].as_str().is_some() && c["id"] == p["checkout_sha"]);
    let Some(commit) = found else { return Push::Skip };
    let mut m = json!({ "commit": sha });
    put(&mut m, &["ref"], p["ref"].as_str());
    put(&mut m, &["commit_info", "url"], string_at(commit, &["url"]));
    put(&mut m, &["commit_info", "message"], string_at(commit, &["message"]));
    put(&mut m, &["commit_info", "date"], string_at(commit, &["timestamp"]));
    Push::Build(m)
}

/// The metadata of a push posted to a custom-git trigger whose build
/// source is `git_url`. A payload no known shape fits is refused with the
/// problem Quay's own shape has.
pub fn custom_git_push(body: &[u8], git_url: &str) -> Result<Push, Error> {
    if body.is_empty() {
        return Err(invalid("Missing expected payload"));
    }
    let payload: Value = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    let custom = check_custom(&payload);
    let push = if custom.is_ok() {
        Push::Build(payload)
    } else if is_github(&payload) {
        github(&payload)
    } else if is_bitbucket(&payload) {
        bitbucket(&payload)
    } else if is_gitlab(&payload) {
        gitlab(&payload)
    } else {
        return Err(invalid(custom.err().unwrap_or_default()));
    };
    let Push::Build(mut metadata) = push else {
        return Ok(Push::Skip);
    };
    metadata["git_url"] = json!(git_url);
    check_metadata(&metadata)?;
    Ok(Push::Build(metadata))
}

/// The metadata of a push GitHub posted to a GitHub trigger, as Quay's
/// GitHub handler reads it: the clone URL is the payload's `ssh_url`, the
/// default branch the payload's, else the one recorded at activation.
/// GitHub's ping (`zen`) and pushes without a head commit (a deleted
/// branch) build nothing.
pub fn github_push(body: &[u8], default_branch: Option<&str>) -> Result<Push, Error> {
    if body.is_empty() {
        return Err(invalid("Missing payload"));
    }
    let payload: Value = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    if payload.get("zen").is_some() {
        return Ok(Push::Skip);
    }
    if !payload["repository"].is_object() {
        return Err(invalid("Missing 'repository' on request"));
    }
    if !is_github(&payload) {
        return Err(invalid(
            "Not a GitHub push payload: 'ref', 'head_commit' and 'repository.ssh_url' are required",
        ));
    }
    let Push::Build(mut metadata) = github(&payload) else {
        return Ok(Push::Skip);
    };
    if !metadata["default_branch"].is_string() {
        if let Some(branch) = default_branch {
            metadata["default_branch"] = json!(branch);
        }
    }
    metadata["git_url"] = payload["repository"]["ssh_url"].clone();
    check_metadata(&metadata)?;
    Ok(Push::Build(metadata))
}

/// Quay's rules for any build metadata: a hex commit of 7 or more
/// characters, a git URL, a well-formed ref, a message in `commit_info`
/// and a username for each person named.
pub fn check_metadata(m: &Value) -> Result<(), Error> {
    let commit = m["commit"].as_str().unwrap_or_default();
    if !is_hex_commit(commit) {
        return Err(invalid(format!(
            "{} does not match '^([A-Fa-f0-9]{{7,}})$'",
            m["commit"]
        )));
    }
    if !m["git_url"].is_string() {
        return Err(invalid("'git_url' is a required property"));
    }
    if let Some(r) = m.get("ref") {
        if !r.as_str().is_some_and(is_git_ref) {
            return Err(invalid(format!(
                "{r} does not match '^refs/(heads|tags|remotes)/(.+)$'"
            )));
        }
    }
    if let Some(info) = m.get("commit_info") {
        if !info["message"].is_string() {
            return Err(invalid("'message' is a required property of commit_info"));
        }
        for person in ["author", "committer"] {
            if info.get(person).is_some_and(|p| !p["username"].is_string()) {
                return Err(invalid(format!(
                    "'username' is a required property of commit_info.{person}"
                )));
            }
        }
    }
    Ok(())
}
