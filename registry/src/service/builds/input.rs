//! A build request as the client sent it, checked and resolved as Quay
//! does before anything is stored.

use super::Error;
use crate::oci::Tag;

/// A build request as the client sent it; empty strings count as absent.
#[derive(Debug, Clone, Default)]
pub struct BuildInput {
    pub file_id: Option<String>,
    pub archive_url: Option<String>,
    pub subdirectory: Option<String>,
    pub dockerfile_path: Option<String>,
    pub context: Option<String>,
    pub pull_robot: Option<String>,
    pub docker_tags: Option<Vec<String>>,
}

pub(super) fn present(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// Python's `os.path.dirname`.
fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        None => "",
        Some(i) => {
            let head = &path[..=i];
            match head.trim_end_matches('/') {
                "" => head,
                trimmed => trimmed,
            }
        }
    }
}

/// The build context and the Dockerfile path from the request, as Quay
/// resolves them: `dockerfile_path` wins (context = its folder unless
/// given), then `subdirectory` (context = it, path = it/Dockerfile), else
/// path = context/Dockerfile with context `/` by default.
pub fn resolve_context(input: &BuildInput) -> (String, String) {
    let context = input.context.clone().unwrap_or_else(|| "/".into());
    if let Some(path) = &input.dockerfile_path {
        let context = input.context.clone().unwrap_or_else(|| dirname(path).to_owned());
        return (context, path.clone());
    }
    if let Some(sub) = &input.subdirectory {
        let mut path = sub.clone();
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str("Dockerfile");
        return (sub.clone(), path);
    }
    let path = if context.ends_with('/') {
        format!("{context}Dockerfile")
    } else {
        format!("{context}/Dockerfile")
    };
    (context, path)
}

/// The tags to push: at least one, unique, each a valid tag name.
pub(super) fn check_tags(tags: Option<Vec<String>>) -> Result<Vec<String>, Error> {
    let tags = tags.unwrap_or_else(|| vec!["latest".into()]);
    if tags.is_empty() {
        return Err(Error::InvalidRequest("docker_tags: [] is too short".into()));
    }
    for (i, t) in tags.iter().enumerate() {
        if t.parse::<Tag>().is_err() {
            return Err(Error::InvalidRequest(format!("Invalid tag name: {t:?}")));
        }
        if tags[..i].contains(t) {
            return Err(Error::InvalidRequest(format!(
                "docker_tags: {tags:?} has non-unique elements"
            )));
        }
    }
    Ok(tags)
}

pub(super) fn check_archive_url(url: &str) -> Result<(), Error> {
    let parsed =
        url::Url::parse(url).map_err(|_| Error::InvalidRequest("Invalid Archive URL: Must be a valid URI".into()))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        _ => Err(Error::InvalidRequest(
            "Invalid Archive URL: Must be http or https".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(path: Option<&str>, sub: Option<&str>, context: Option<&str>) -> BuildInput {
        BuildInput {
            dockerfile_path: path.map(str::to_owned),
            subdirectory: sub.map(str::to_owned),
            context: context.map(str::to_owned),
            ..BuildInput::default()
        }
    }

    #[test]
    fn context_and_dockerfile_path_resolve_as_in_quay() {
        let cases = [
            (input(None, None, None), ("/", "/Dockerfile")),
            (input(None, None, Some("/app")), ("/app", "/app/Dockerfile")),
            (input(None, None, Some("/app/")), ("/app/", "/app/Dockerfile")),
            (
                input(Some("/app/build/Dockerfile.prod"), None, None),
                ("/app/build", "/app/build/Dockerfile.prod"),
            ),
            (input(Some("/Dockerfile"), None, None), ("/", "/Dockerfile")),
            (input(Some("Dockerfile"), None, None), ("", "Dockerfile")),
            (input(Some("/a/Dockerfile"), None, Some("/")), ("/", "/a/Dockerfile")),
            (input(None, Some("/sub"), None), ("/sub", "/sub/Dockerfile")),
            (
                input(None, Some("/sub/"), Some("/ignored")),
                ("/sub/", "/sub/Dockerfile"),
            ),
        ];
        for (given, (context, path)) in cases {
            assert_eq!(
                resolve_context(&given),
                (context.to_owned(), path.to_owned()),
                "{given:?}"
            );
        }
    }

    #[test]
    fn tags_default_to_latest_and_must_be_unique_valid_and_present() {
        assert_eq!(check_tags(None).expect("default"), vec!["latest"]);
        assert!(check_tags(Some(vec![])).is_err());
        assert!(check_tags(Some(vec!["a".into(), "a".into()])).is_err());
        assert!(check_tags(Some(vec!["bad tag".into()])).is_err());
        assert!(check_tags(Some(vec![".x".into()])).is_err());
        assert_eq!(check_tags(Some(vec!["v1".into(), "v1.0".into()])).expect("ok").len(), 2);
    }

    #[test]
    fn dirname_matches_python() {
        assert_eq!(dirname("a/b"), "a");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("a"), "");
        assert_eq!(dirname("/a/b/"), "/a/b");
        assert_eq!(dirname("a//b"), "a");
    }

    #[test]
    fn archive_urls_must_be_http_or_https() {
        assert!(check_archive_url("https://example.com/c.tar.gz").is_ok());
        assert!(check_archive_url("http://example.com/c.tar.gz").is_ok());
        assert!(check_archive_url("ftp://example.com/c.tar.gz").is_err());
        assert!(check_archive_url("not a url").is_err());
    }
}
