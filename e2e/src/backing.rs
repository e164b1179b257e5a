//! Fresh PostgreSQL databases and S3 buckets for one registry under test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::run;
use crate::{unique_name, TestEnv};

/// A database created from the admin URL; dropped again on `Drop`.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

fn psql() -> PathBuf {
    let bundled = Path::new("/usr/lib/postgresql/15/bin/psql");
    if bundled.is_file() {
        bundled.to_path_buf()
    } else {
        PathBuf::from("psql")
    }
}

fn psql_admin(admin_url: &str, sql: &str) -> crate::process::Outcome {
    run(
        Command::new(psql()).args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin_url, "-c", sql]),
        Duration::from_secs(60),
    )
}

/// `postgresql://user@host:port/olddb?x` with the database replaced by `db`.
fn with_database(admin_url: &str, db: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..authority_end])
}

impl PgDatabase {
    pub fn create(admin_url: &str) -> PgDatabase {
        let name = unique_name("e2e_");
        psql_admin(admin_url, &format!("CREATE DATABASE \"{name}\"")).ok();
        PgDatabase {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql_admin(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

/// A fresh bucket on the S3 endpoint (moto), made with the venv's boto3.
#[derive(Debug)]
pub struct S3Bucket {
    pub endpoint: String,
    pub name: String,
    pub host: String,
    pub port: u16,
}

const CREATE_BUCKET: &str = "import boto3, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='testing',
                  aws_secret_access_key='testing', region_name='us-east-1')
s3.create_bucket(Bucket=sys.argv[2])";

impl S3Bucket {
    pub fn create(env: &TestEnv, endpoint: &str) -> S3Bucket {
        let name = unique_name("e2e-");
        run(
            Command::new(env.python())
                .args(["-c", CREATE_BUCKET, endpoint, &name])
                .env_remove("AWS_CA_BUNDLE"),
            Duration::from_secs(60),
        )
        .ok();
        let authority = endpoint
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(endpoint)
            .trim_end_matches('/');
        let (host, port) = authority
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse().ok().map(|p| (h.to_string(), p)))
            .unwrap_or_else(|| (authority.to_string(), 80));
        S3Bucket {
            endpoint: endpoint.to_string(),
            name,
            host,
            port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_in_admin_urls() {
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1:5440/postgres", "x"),
            "postgresql://postgres@127.0.0.1:5440/x"
        );
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1:5440", "x"),
            "postgresql://postgres@127.0.0.1:5440/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h:1/postgres?sslmode=disable", "x"),
            "postgresql://u:p@h:1/x?sslmode=disable"
        );
    }
}
