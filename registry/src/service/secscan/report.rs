//! Clair v4's vulnerability report in the shape Quay's API gives it:
//! `{"Layer": {"Name", "ParentName", "NamespaceName", "IndexedByVersion",
//! "Features": [...]}}`, one feature per package with its vulnerabilities.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

/// Quay's severity when Clair gives none.
const UNKNOWN: &str = "Unknown";

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The CVE names in a vulnerability's space-separated links.
fn cves(links: &str) -> Vec<String> {
    links
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|t| {
            let mut parts = t.splitn(3, '-');
            parts.next().is_some_and(|p| p.eq_ignore_ascii_case("CVE"))
                && parts
                    .next()
                    .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
                && parts
                    .next()
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_ascii_uppercase)
        .collect()
}

/// Clair's `fixed_in_version`: "0" means no fix; it may also be
/// URL-encoded as `fixed=<version>&…`.
fn fixed_by(raw: &str) -> String {
    if raw == "0" {
        return String::new();
    }
    if raw.contains('=') {
        if let Some(v) = url::form_urlencoded::parse(raw.as_bytes()).find(|(k, _)| k == "fixed") {
            return v.1.into_owned();
        }
    }
    raw.to_owned()
}

/// The `data` of a scanned manifest's security answer.
pub fn security_information(report: &Value) -> Value {
    let empty = Map::new();
    let packages = report.get("packages").and_then(Value::as_object).unwrap_or(&empty);
    let vulnerabilities = report
        .get("vulnerabilities")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let by_package = report
        .get("package_vulnerabilities")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let environments = report.get("environments").and_then(Value::as_object).unwrap_or(&empty);
    let mut ids: Vec<&String> = packages.keys().collect();
    ids.sort_by(|a, b| {
        text(&packages[*a], "name")
            .cmp(text(&packages[*b], "name"))
            .then(a.cmp(b))
    });
    // Clair may report one vulnerability from several sources; Quay keeps one
    // per package, version and vulnerability name.
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    let mut features = Vec::new();
    for id in ids {
        let pkg = &packages[id];
        let (name, version) = (text(pkg, "name"), text(pkg, "version"));
        let added_by = environments
            .get(id)
            .and_then(Value::as_array)
            .and_then(|e| e.first())
            .map(|e| text(e, "introduced_in"))
            .unwrap_or_default();
        let mut vulns = Vec::new();
        let mut cve_ids = Vec::new();
        for vid in by_package.get(id).and_then(Value::as_array).into_iter().flatten() {
            let Some(v) = vid.as_str().and_then(|vid| vulnerabilities.get(vid)) else {
                continue;
            };
            let key = (name.to_owned(), version.to_owned(), text(v, "name").to_owned());
            if !seen.insert(key) {
                continue;
            }
            let severity = Some(text(v, "normalized_severity"))
                .filter(|s| !s.is_empty())
                .unwrap_or(UNKNOWN);
            let links = text(v, "links");
            cve_ids.extend(cves(links));
            vulns.push(json!({
                "Severity": severity,
                "NamespaceName": text(v, "updater"),
                "Link": links,
                "FixedBy": fixed_by(text(v, "fixed_in_version")),
                "Description": text(v, "description"),
                "Name": text(v, "name"),
                "Metadata": {
                    "UpdatedBy": text(v, "updater"),
                    "RepoName": v.pointer("/repository/name").and_then(Value::as_str),
                    "RepoLink": v.pointer("/repository/uri").and_then(Value::as_str),
                    "DistroName": v.pointer("/distribution/name").and_then(Value::as_str),
                    "DistroVersion": v.pointer("/distribution/version").and_then(Value::as_str),
                    "NVD": {"CVSSv3": {"Vectors": "", "Score": ""}},
                },
            }));
        }
        features.push(json!({
            "Name": name,
            "VersionFormat": "",
            "NamespaceName": "",
            "AddedBy": added_by,
            "Version": version,
            "BaseScores": [],
            "CVEIds": cve_ids,
            "Vulnerabilities": vulns,
        }));
    }
    json!({
        "Layer": {
            "Name": text(report, "manifest_hash"),
            "ParentName": "",
            "NamespaceName": "",
            "IndexedByVersion": 4,
            "Features": features,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        json!({
            "manifest_hash": "sha256:abc",
            "packages": {
                "1": {"id": "1", "name": "openssl", "version": "1.1.1k"},
                "2": {"id": "2", "name": "bash", "version": "5.1"}
            },
            "distributions": {},
            "repository": {},
            "environments": {
                "1": [{"package_db": "var/lib/dpkg/status", "introduced_in": "sha256:layer1", "distribution_id": "1"}],
                "2": [{"package_db": "var/lib/dpkg/status", "introduced_in": "sha256:layer0", "distribution_id": "1"}]
            },
            "vulnerabilities": {
                "v1": {"id": "v1", "updater": "debian", "name": "CVE-2021-3711", "description": "SM2 overflow",
                       "links": "https://security-tracker.debian.org/tracker/CVE-2021-3711 https://nvd.nist.gov/vuln/detail/CVE-2021-3711",
                       "severity": "high", "normalized_severity": "High", "fixed_in_version": "1.1.1l",
                       "distribution": {"name": "debian", "version": "11"}},
                "v2": {"id": "v2", "updater": "osv", "name": "CVE-2021-3711", "description": "dup",
                       "links": "", "normalized_severity": "High", "fixed_in_version": "0"},
                "v3": {"id": "v3", "updater": "debian", "name": "CVE-2099-1", "description": "",
                       "links": "", "normalized_severity": "", "fixed_in_version": "fixed=2.0&arch=amd64"}
            },
            "package_vulnerabilities": {"1": ["v1", "v2", "v3"]},
            "enrichments": {}
        })
    }

    #[test]
    fn a_report_becomes_quays_features_with_one_entry_per_vulnerability_name() {
        let data = security_information(&report());
        let layer = &data["Layer"];
        assert_eq!(layer["Name"], "sha256:abc");
        assert_eq!(layer["IndexedByVersion"], 4);
        let features = layer["Features"].as_array().expect("features");
        let names: Vec<&str> = features.iter().map(|f| f["Name"].as_str().expect("name")).collect();
        assert_eq!(names, ["bash", "openssl"]);
        let openssl = &features[1];
        assert_eq!(openssl["AddedBy"], "sha256:layer1");
        let vulns = openssl["Vulnerabilities"].as_array().expect("vulns");
        assert_eq!(vulns.len(), 2, "the duplicate CVE-2021-3711 is dropped: {vulns:?}");
        assert_eq!(vulns[0]["Severity"], "High");
        assert_eq!(vulns[0]["FixedBy"], "1.1.1l");
        assert_eq!(vulns[0]["Metadata"]["DistroVersion"], "11");
        assert_eq!(vulns[1]["Severity"], "Unknown");
        assert_eq!(vulns[1]["FixedBy"], "2.0");
        assert_eq!(openssl["CVEIds"], json!(["CVE-2021-3711", "CVE-2021-3711"]));
        assert_eq!(features[0]["Vulnerabilities"], json!([]));
    }

    #[test]
    fn an_empty_report_has_no_features() {
        let data = security_information(&json!({"manifest_hash": "sha256:x"}));
        assert_eq!(data["Layer"]["Features"], json!([]));
    }
}
