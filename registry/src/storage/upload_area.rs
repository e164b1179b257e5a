//! Listing the upload area, so that a cleanup can find upload bytes the
//! database does not know of: those a crash or an older version left behind.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The names of the plain files in `dir` last modified before `before`.
/// Anything else (directories, links, names that are not UTF-8, entries
/// that vanish while listed) is left alone: none of it is an upload.
pub(super) fn files_written_before(dir: &Path, before: SystemTime) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // `DirEntry::metadata` does not follow symbolic links.
        let modified = match entry.metadata() {
            Ok(meta) if meta.file_type().is_file() => meta.modified()?,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if modified < before {
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Object stores keep modification times to the second, rounded down; an
/// object counts as written at the end of its second, so that one written
/// after `before` is never taken for older.
const TIME_GRAIN: Duration = Duration::from_secs(1);

/// The ids of the uploads whose objects, given as (upload id, last
/// modified), were all written before `before`.
pub(super) fn ids_written_before(
    objects: impl IntoIterator<Item = (String, SystemTime)>,
    before: SystemTime,
) -> Vec<String> {
    let mut latest: HashMap<String, SystemTime> = HashMap::new();
    for (id, modified) in objects {
        let at = latest.entry(id).or_insert(modified);
        *at = (*at).max(modified);
    }
    latest
        .into_iter()
        .filter(|(_, modified)| modified.checked_add(TIME_GRAIN).is_some_and(|end| end < before))
        .map(|(id, _)| id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_is_as_new_as_its_newest_object() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let objects = [
            ("old".to_owned(), t),
            ("mixed".to_owned(), t),
            ("mixed".to_owned(), t + Duration::from_secs(100)),
        ];
        let listed = ids_written_before(objects, t + Duration::from_secs(50));
        assert_eq!(listed, vec!["old".to_owned()]);
    }

    #[test]
    fn an_object_counts_as_written_at_the_end_of_its_second() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let objects = || [("u".to_owned(), t)];
        assert!(ids_written_before(objects(), t + Duration::from_millis(500)).is_empty());
        assert_eq!(ids_written_before(objects(), t + Duration::from_secs(2)), vec!["u"]);
    }
}
