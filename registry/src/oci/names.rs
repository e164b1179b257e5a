use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use super::Digest;

static SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$").unwrap_or_else(|e| panic!("static regex: {e}")));
static REPO_SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][.a-z0-9_-]{0,254}$").unwrap_or_else(|e| panic!("static regex: {e}")));
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").unwrap_or_else(|e| panic!("static regex: {e}"))
});

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("invalid repository name")]
    Repository,
    #[error("invalid tag")]
    Tag,
}

/// A repository path `namespace/name[/more]`, validated once at the edge.
///
/// The namespace follows the user/organization grammar; the rest follows
/// Quay's extended repository name grammar (multi-segment, at most 255 chars).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName {
    namespace: String,
    name: String,
}

impl RepoName {
    pub fn new(namespace: &str, name: &str) -> Result<RepoName, NameError> {
        let ns_ok = (2..=255).contains(&namespace.len()) && SEGMENT.is_match(namespace);
        let name_ok = !name.is_empty() && name.len() <= 255 && name.split('/').all(|s| REPO_SEGMENT.is_match(s));
        if ns_ok && name_ok {
            Ok(RepoName {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(NameError::Repository)
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The repository name within its namespace (may contain `/`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for RepoName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ns, name) = s.split_once('/').ok_or(NameError::Repository)?;
        RepoName::new(ns, name)
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A tag name following the tag grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if TAG.is_match(s) {
            Ok(Tag(s.to_owned()))
        } else {
            Err(NameError::Tag)
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `<reference>` of a manifest URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_segment_repository_names_are_accepted() {
        let r: RepoName = "org/team/app".parse().expect("valid");
        assert_eq!((r.namespace(), r.name()), ("org", "team/app"));
    }

    #[test]
    fn bad_repository_names_are_refused() {
        for bad in [
            "UPPER/x", "a/b", "ns", "ns/", "ns/-x", "ns/a//b", "ns/a b", "-ns/x", "ns..x/y",
        ] {
            assert_eq!(bad.parse::<RepoName>(), Err(NameError::Repository), "{bad}");
        }
    }

    #[test]
    fn tag_grammar_is_enforced() {
        assert!("v1.0_rc-2".parse::<Tag>().is_ok());
        assert!(".hidden".parse::<Tag>().is_err());
        assert!("x".repeat(129).parse::<Tag>().is_err());
        assert!("a:b".parse::<Tag>().is_err());
    }
}
