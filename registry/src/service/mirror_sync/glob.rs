//! Tag patterns of a mirror's `tag_glob_csv` rule, matched as Python's
//! `fnmatch.fnmatch` does on POSIX (what Quay uses): case-sensitive, `*`
//! any run of characters, `?` one character, `[seq]` and `[!seq]` sets
//! with ranges; a `[` without its `]` is an ordinary character.

/// Whether `name` matches `pattern`.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    matches_from(&name, &pattern)
}

/// Whether `name` matches any of the patterns.
pub fn matches_any(name: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| fnmatch(name, p))
}

fn matches_from(name: &[char], pattern: &[char]) -> bool {
    // Iterative matching with one backtrack point for the last `*`.
    let (mut n, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match set(&pattern[p..], name[n]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None if name[n] == '[' => Some(1),
                None => None,
            },
            Some(c) if *c == name[n] => Some(1),
            _ => None,
        };
        match (step, star) {
            (Some(len), _) => {
                p += len;
                n += 1;
            }
            (None, Some((sp, sn))) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Matches `c` against the set at the start of `pattern` (which begins
/// with `[`): whether it matched and the set's length, or `None` when the
/// set is not closed.
fn set(pattern: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some('!'));
    if negated {
        i += 1;
    }
    // A `]` right after the opening is part of the set.
    let start = i;
    let mut found = false;
    loop {
        let first = *pattern.get(i)?;
        if first == ']' && i > start {
            return Some((found != negated, i + 1));
        }
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|e| *e != ']') {
            let last = pattern[i + 2];
            found |= first <= c && c <= last;
            i += 3;
        } else {
            found |= first == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn stars_and_question_marks_match_like_fnmatch() {
        assert!(fnmatch("latest", "latest"));
        assert!(fnmatch("anything", "*"));
        assert!(fnmatch("", "*"));
        assert!(fnmatch("v1.2.3", "v1.*"));
        assert!(fnmatch("v1.2.3", "v?.2.*"));
        assert!(fnmatch("3.18-alpine", "*-alpine"));
        assert!(fnmatch("a-b-c", "*-*-c"));
        assert!(!fnmatch("v2.0", "v1.*"));
        assert!(!fnmatch("Latest", "latest"), "case-sensitive");
        assert!(!fnmatch("latest-1", "latest"));
        assert!(!fnmatch("v1", "v1?"));
    }

    #[test]
    fn sets_match_like_fnmatch() {
        assert!(fnmatch("v1", "v[0-9]"));
        assert!(!fnmatch("va", "v[0-9]"));
        assert!(fnmatch("va", "v[!0-9]"));
        assert!(fnmatch("v]", "v[]]"));
        assert!(fnmatch("v-", "v[a-]"));
        assert!(fnmatch("v[1", "v[1"), "an unclosed [ is literal");
        assert!(fnmatch("1.0-rc2", "1.[0-9]-rc[12]"));
    }
}
