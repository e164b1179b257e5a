//! What a push to a trigger builds: whether it is skipped, and the tags the
//! image gets (quay-api.md §1.15), as Quay decides them.
//!
//! Tag templates are strings with `${path}` parts, where `path` is a dotted
//! path into the build's metadata (`commit_info.author.username`); a
//! template naming a missing value yields no tag.

use serde_json::{Map, Value};

/// Longest tag a template or ref may yield (Quay's `escape_tag`).
const MAX_TAG_CHARS: usize = 127;

/// A template could not be read (an empty `${}`).
#[derive(Debug, PartialEq, Eq)]
struct TemplateError;

/// The metadata value at the dotted `path` (a leading `$.` is allowed).
fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    let path = path.strip_prefix("$.").unwrap_or(path);
    path.split('.').try_fold(data, |v, key| v.get(key.trim()))
}

/// A value as a template writes it; objects and arrays do not fit a tag.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_owned()),
        _ => None,
    }
}

/// The template with every `${path}` replaced; `None` when a value is
/// missing. A `${` without its `}` is kept as text.
fn render(template: &str, data: &Value) -> Result<Option<String>, TemplateError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else { break };
        let expression = &rest[start + 2..start + 2 + len];
        if expression.trim().is_empty() {
            return Err(TemplateError);
        }
        out.push_str(&rest[..start]);
        match lookup(data, expression).and_then(scalar) {
            Some(value) => out.push_str(&value),
            None => return Ok(None),
        }
        rest = &rest[start + 2 + len + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// Quay's `escape_tag`: a word character first, then word characters,
/// dots and dashes, at most 127 characters.
pub(super) fn escape_tag(tag: &str) -> String {
    if tag.is_empty() {
        return "latest".into();
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (0, c) if !word(c) => '_',
            (_, c) if word(c) || c == '.' || c == '-' => c,
            _ => '_',
        })
        .take(MAX_TAG_CHARS)
        .collect()
}

/// The part of a ref after `refs/<kind>/`, and its kind.
fn split_ref(git_ref: &str) -> Option<(&str, &str)> {
    let mut parts = git_ref.splitn(3, '/');
    let (_, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some((kind, name))
}

fn config_flag(config: &Map<String, Value>, key: &str) -> bool {
    config.get(key).and_then(Value::as_bool).unwrap_or(true)
}

/// The tags of a build of `metadata` under the trigger's `config`: the
/// rendered `tag_templates`, the branch or tag name of the ref
/// (`default_tag_from_ref`), `latest` for the default branch
/// (`latest_for_default_branch`), else the short SHA.
pub fn determine_tags(config: &Map<String, Value>, metadata: &Value) -> Vec<String> {
    let commit = metadata["commit"].as_str().unwrap_or_default();
    let short_sha: String = commit.chars().take(7).collect();
    let git_ref = metadata["ref"].as_str();
    let mut tags: Vec<String> = Vec::new();
    let add = |tag: String, tags: &mut Vec<String>| {
        let tag = escape_tag(&tag);
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    };
    let templates = config.get("tag_templates").and_then(Value::as_array);
    if let Some(templates) = templates.filter(|t| !t.is_empty()) {
        let data = template_data(metadata, &short_sha, git_ref);
        for template in templates.iter().filter_map(Value::as_str) {
            if let Ok(Some(tag)) = render(template, &data) {
                if !tag.is_empty() {
                    add(tag, &mut tags);
                }
            }
        }
    }
    if let Some(name) = git_ref.and_then(|r| split_ref(r).map(|(_, name)| name)) {
        if config_flag(config, "default_tag_from_ref") {
            add(name.to_owned(), &mut tags);
        }
        let default_branch = metadata["default_branch"].as_str();
        if config_flag(config, "latest_for_default_branch") && default_branch == Some(name) {
            add("latest".to_owned(), &mut tags);
        }
    }
    if tags.is_empty() {
        tags.push(escape_tag(&short_sha));
    }
    tags
}

/// The metadata templates see: with `commit_info.short_sha` and
/// `parsed_ref.branch|tag|remote`.
fn template_data(metadata: &Value, short_sha: &str, git_ref: Option<&str>) -> Value {
    let mut data = metadata.clone();
    if !data["commit_info"].is_object() {
        data["commit_info"] = Value::Object(Map::new());
    }
    data["commit_info"]["short_sha"] = Value::String(short_sha.to_owned());
    if let Some((kind, name)) = git_ref.and_then(split_ref) {
        let mut parsed = Map::new();
        let key = match kind {
            "heads" => Some("branch"),
            "tags" => Some("tag"),
            "remotes" => Some("remote"),
            _ => None,
        };
        if let Some(key) = key {
            parsed.insert(key.to_owned(), Value::String(name.to_owned()));
        }
        data["parsed_ref"] = Value::Object(parsed);
    }
    data
}

/// Whether the ref (without `refs/`) matches `branchtag_regex` in full, as
/// Python's `re.match` does; an unreadable regex matches everything.
fn matches_ref(git_ref: &str, pattern: &str) -> bool {
    let Some((_, subject)) = git_ref.split_once('/') else {
        return false;
    };
    match regex::Regex::new(&format!("^(?:{pattern})")) {
        Ok(re) => re.find(subject).is_some_and(|m| m.end() == subject.len()),
        Err(_) => true,
    }
}

/// Whether a push is skipped: its ref does not match `branchtag_regex`, or
/// its commit message asks for it (`[skip build]`, `[build skip]`).
pub fn should_skip(config: &Map<String, Value>, metadata: &Value) -> bool {
    if let Some(pattern) = config.get("branchtag_regex").and_then(Value::as_str) {
        if !metadata["ref"].as_str().is_some_and(|r| matches_ref(r, pattern)) {
            return true;
        }
    }
    let message = metadata["commit_info"]["message"].as_str().unwrap_or_default();
    message.contains("[skip build]") || message.contains("[build skip]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(git_ref: &str) -> Value {
        json!({
            "commit": "1c002dd4b536e7479fe34593e72e6c6c1819e53b",
            "ref": git_ref,
            "default_branch": "main",
            "git_url": "git@example.com:team/app.git",
            "commit_info": {
                "url": "https://example.com/team/app/commit/1c002dd",
                "message": "Fix the build",
                "date": "2026-12-01T10:20:30+00:00",
                "author": {"username": "ada", "url": "https://example.com/ada", "avatar_url": "https://example.com/ada.png"},
                "committer": {"username": "bob", "url": "https://example.com/bob", "avatar_url": "https://example.com/bob.png"}
            }
        })
    }

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn templates_render_over_the_metadata_and_missing_values_drop_the_template() {
        let only_templates = |templates: Value| {
            config(
                json!({"tag_templates": templates, "default_tag_from_ref": false, "latest_for_default_branch": false}),
            )
        };
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "${commit}",
                "refs/heads/main",
                Some("1c002dd4b536e7479fe34593e72e6c6c1819e53b"),
            ),
            ("${commit_info.short_sha}", "refs/heads/main", Some("1c002dd")),
            ("v-${commit_info.short_sha}", "refs/heads/main", Some("v-1c002dd")),
            ("${parsed_ref.branch}", "refs/heads/feature/x", Some("feature_x")),
            ("${parsed_ref.tag}", "refs/tags/v1.2.3", Some("v1.2.3")),
            ("${parsed_ref.tag}", "refs/heads/main", None),
            ("${parsed_ref.remote}", "refs/remotes/origin/main", Some("origin_main")),
            ("${commit_info.author.username}", "refs/heads/main", Some("ada")),
            (
                "${commit_info.committer.username}-${parsed_ref.branch}",
                "refs/heads/main",
                Some("bob-main"),
            ),
            ("${committer.properties.username}", "refs/heads/main", None),
            (
                "${commit_info.date}",
                "refs/heads/main",
                Some("2026-12-01T10_20_30_00_00"),
            ),
            ("${$.ref}", "refs/heads/main", Some("refs_heads_main")),
            ("${commit_info}", "refs/heads/main", None),
            ("${}", "refs/heads/main", None),
            ("plain", "refs/heads/main", Some("plain")),
            ("${unclosed", "refs/heads/main", Some("__unclosed")),
        ];
        for (template, git_ref, want) in cases {
            let tags = determine_tags(&only_templates(json!([template])), &metadata(git_ref));
            let want = want.map_or_else(|| vec!["1c002dd".to_owned()], |t| vec![t.to_owned()]);
            assert_eq!(tags, want, "{template} on {git_ref}");
        }
    }

    #[test]
    fn refs_add_their_name_and_latest_for_the_default_branch() {
        let defaults = config(json!({}));
        assert_eq!(
            determine_tags(&defaults, &metadata("refs/heads/main")),
            ["main", "latest"]
        );
        assert_eq!(determine_tags(&defaults, &metadata("refs/heads/dev")), ["dev"]);
        assert_eq!(determine_tags(&defaults, &metadata("refs/tags/v1.0")), ["v1.0"]);
        let no_latest = config(json!({"latest_for_default_branch": false}));
        assert_eq!(determine_tags(&no_latest, &metadata("refs/heads/main")), ["main"]);
        let nothing = config(json!({"default_tag_from_ref": false, "latest_for_default_branch": false}));
        assert_eq!(determine_tags(&nothing, &metadata("refs/heads/main")), ["1c002dd"]);
        let both = config(json!({"tag_templates": ["${parsed_ref.branch}", "x-${commit_info.short_sha}"]}));
        assert_eq!(
            determine_tags(&both, &metadata("refs/heads/main")),
            ["main", "x-1c002dd", "latest"]
        );
        let manual = json!({"commit": "abcdef0123", "git_url": "git@example.com:a.git"});
        assert_eq!(determine_tags(&defaults, &manual), ["abcdef0"]);
    }

    #[test]
    fn escaping_matches_quay() {
        assert_eq!(escape_tag(""), "latest");
        assert_eq!(escape_tag(".hidden"), "_hidden");
        assert_eq!(escape_tag("-x"), "_x");
        assert_eq!(escape_tag("a/b:c"), "a_b_c");
        assert_eq!(escape_tag("v1.0-rc_1"), "v1.0-rc_1");
        assert_eq!(escape_tag(&"a".repeat(200)).len(), 127);
    }

    #[test]
    fn branchtag_regex_must_match_the_whole_ref_after_refs() {
        let with = |re: &str| config(json!({"branchtag_regex": re}));
        assert!(!should_skip(&with("heads/main"), &metadata("refs/heads/main")));
        assert!(should_skip(&with("heads/main"), &metadata("refs/heads/main2")));
        assert!(should_skip(&with("main"), &metadata("refs/heads/main")));
        assert!(!should_skip(&with("tags/v.+"), &metadata("refs/tags/v1")));
        assert!(should_skip(&with("tags/v.+"), &metadata("refs/heads/v1")));
        assert!(!should_skip(&with("heads/(main|dev)"), &metadata("refs/heads/dev")));
        assert!(!should_skip(&with("(unclosed"), &metadata("refs/heads/any")));
        assert!(!should_skip(&config(json!({})), &metadata("refs/heads/any")));
    }

    #[test]
    fn commit_messages_can_skip_the_build() {
        let mut m = metadata("refs/heads/main");
        m["commit_info"]["message"] = json!("Docs only [skip build]");
        assert!(should_skip(&config(json!({})), &m));
        m["commit_info"]["message"] = json!("[build skip] typo");
        assert!(should_skip(&config(json!({})), &m));
        m["commit_info"]["message"] = json!("[skip ci]");
        assert!(!should_skip(&config(json!({})), &m));
    }
}
