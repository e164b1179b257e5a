//! `/api/v1/discovery` checked from outside with real tools: the document
//! validates as Swagger 2.0 with `openapi-spec-validator`, and schemathesis
//! fuzzes every operation it lists (signed in as a superuser, every
//! feature with an API on) without one server error.

use std::process::Command;

use e2e::{backend_tests, Registry, TestEnv};

backend_tests!(the_document_validates_and_fuzzing_finds_no_server_error);

const USER: &str = "admin";
const PASSWORD: &str = "admin-Passw0rd";

const CONFIG: &str = "FEATURE_USER_INITIALIZE: true
SUPER_USERS: [admin]
FEATURE_REPO_MIRROR: true
FEATURE_PROXY_CACHE: true
FEATURE_QUOTA_MANAGEMENT: true
FEATURE_AUTO_PRUNE: true
FEATURE_IMMUTABLE_TAGS: true
FEATURE_APP_SPECIFIC_TOKENS: true
FEATURE_SUPERUSERS_FULL_ACCESS: true
FEATURE_BUILD_SUPPORT: true
BUILD_MANAGER: [ephemeral, {EXECUTORS: []}]
";

/// The counts in schemathesis' summary line `N generated, N passed…`.
fn generated(summary: &str) -> Option<(u64, u64)> {
    let line = summary.lines().rev().find(|l| l.contains(" generated"))?;
    let number = |word: &str| -> Option<u64> {
        let before = line.split(word).next()?;
        before.trim_end().rsplit([' ', ',']).next()?.parse().ok()
    };
    Some((number(" generated")?, number(" passed").unwrap_or(0)))
}

fn the_document_validates_and_fuzzing_finds_no_server_error(env: TestEnv) {
    let reg = Registry::start_with(&env, CONFIG, false);
    let token = reg.initialize_user(USER, PASSWORD);
    let client = reqwest::blocking::Client::new();
    let res = client
        .post(reg.url("/api/v1/repository"))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"namespace": USER, "repository": "fuzzed", "visibility": "public", "description": ""}),
        )
        .send()
        .expect("create a repository");
    assert_eq!(res.status().as_u16(), 201);

    let url = reg.url("/api/v1/discovery?internal=true");
    let doc = client.get(&url).send().expect("discovery").text().expect("text");
    let file = reg.scratch("discovery").join("discovery.json");
    std::fs::write(&file, &doc).expect("write the document");
    let out = Command::new(env.venv.join("bin/openapi-spec-validator"))
        .args(["--schema", "2.0"])
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        out.status.success(),
        "the document is not valid Swagger 2.0: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Deleting the signed-in user would leave the rest of the run
    // unauthenticated.
    let out = Command::new(env.venv.join("bin/schemathesis"))
        .args(["run", &url, "--checks", "not_a_server_error", "--max-examples", "5"])
        .args([
            "--phases",
            "coverage,fuzzing",
            "--workers",
            "2",
            "--exclude-operation-id",
            "deleteUser",
        ])
        .args(["--seed", "1", "--header", &format!("Authorization: Bearer {token}")])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let summary = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (cases, passed) = generated(&summary).unwrap_or_else(|| panic!("no summary from schemathesis:\n{summary}"));
    eprintln!("schemathesis: {cases} requests generated, {passed} passed");
    assert!(
        out.status.success() && cases == passed,
        "schemathesis found server errors:\n{summary}"
    );
    assert!(cases > 1000, "schemathesis sent only {cases} requests:\n{summary}");
    let health = client.get(reg.url("/health/instance")).send().expect("health");
    assert_eq!(health.status().as_u16(), 200, "the registry is healthy after the run");
}

#[test]
fn the_summary_line_is_read() {
    assert_eq!(
        generated("Test cases:\n  4233 generated, 4233 passed\n"),
        Some((4233, 4233))
    );
    assert_eq!(generated("  10 generated, 8 passed, 2 failed\n"), Some((10, 8)));
    assert_eq!(generated("nothing"), None);
}
