//! `operator`: the QuayRegistry controller process.
//!
//! Runs the main and status controllers (only on the leader when leader
//! election is on) next to the health/metrics server, until SIGTERM or
//! Ctrl-C: then the controllers finish their current passes, the Lease is
//! released and the server stops.

use std::io::IsTerminal as _;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use crds::QuayRegistry;
use futures_util::Future;
use kube::api::ListParams;
use kube::Client;
use operator::controller::{self, status_controller, Context};
use operator::leader::LeaderElector;
use operator::{capabilities, server};
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(name = "operator", version, about = "Runs the QuayRegistry controller")]
struct Args {
    /// Namespace to watch; empty watches all namespaces (OLM sets it from
    /// the OperatorGroup's target namespaces).
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "")]
    namespace: String,
    /// Address of the metrics endpoint (`:8080` means all interfaces).
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: String,
    /// Address of the health probes (may equal the metrics address).
    #[arg(long, default_value = "0.0.0.0:8081")]
    health_probe_addr: String,
    /// Run the controllers only while holding the leader Lease.
    #[arg(long = "leader-elect", alias = "enable-leader-election", env = "LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the leader Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into()),
        )
        // Colour codes only on a terminal: pod logs are read as plain text.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let args = Args::parse();
    let namespace = Some(args.namespace.clone()).filter(|n| !n.is_empty());
    let addrs = [
        server::parse_addr(&args.metrics_addr)?,
        server::parse_addr(&args.health_probe_addr)?,
    ];
    let listeners = server::bind(&addrs)?;

    let client = Client::try_default()
        .await
        .context("cannot configure the Kubernetes client (in-cluster or KUBECONFIG)")?;
    check_crd(&client, namespace.as_deref()).await?;
    let mut caps = capabilities::discover(&client).await;
    // Quay offers monitoring only when the operator watches all namespaces.
    caps.monitoring &= namespace.is_none();

    let state = Arc::new(server::State::default());
    let ctx = Arc::new(Context::new(client.clone(), caps, state.metrics.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let serve = server::run(listeners, state.clone(), stopped());
    let elector = args
        .leader_elect
        .then(|| LeaderElector::new(client.clone(), &args.leader_election_namespace, leader_identity()));
    let controllers = run_controllers(ctx, namespace, elector, state, stopped);
    let (served, led) = tokio::join!(serve, controllers);
    served?;
    led
}

/// Runs both controllers, on the leader only when an elector is given.
async fn run_controllers<F, S>(
    ctx: Arc<Context>,
    namespace: Option<String>,
    elector: Option<LeaderElector>,
    state: Arc<server::State>,
    stopped: S,
) -> anyhow::Result<()>
where
    F: Future<Output = ()> + Send + Sync + 'static,
    S: Fn() -> F,
{
    if let Some(elector) = &elector {
        // A standby is ready: it serves probes and waits for the Lease.
        state.set_ready();
        tokio::select! {
            () = elector.acquire() => {}
            () = stopped() => return Ok(()),
        }
    }
    state.set_ready();
    let run = futures_util::future::join(
        controller::run(ctx.clone(), namespace.clone(), stopped()),
        status_controller::run(ctx, namespace, stopped()),
    );
    let Some(elector) = elector else {
        run.await;
        return Ok(());
    };
    tokio::select! {
        _ = run => {
            elector.release().await;
            Ok(())
        }
        () = elector.keep() => anyhow::bail!("lost the leader lease; exiting so a new leader takes over"),
    }
}

/// A unique candidate name: the pod's name (its hostname) plus a random
/// suffix, as client-go does, so two processes never share an identity.
fn leader_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()))
        .unwrap_or_else(|_| "operator".into());
    format!("{host}_{:016x}", rand::random::<u64>())
}

/// Fails with an install hint when the QuayRegistry CRD is missing.
async fn check_crd(client: &Client, namespace: Option<&str>) -> anyhow::Result<()> {
    let api = controller::registry_api(client, namespace);
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => anyhow::bail!(
            "the QuayRegistry CRD ({}) is not installed; install it with \
             `kubectl apply -f crds/quayregistries.crd.yaml` and start the operator again",
            <QuayRegistry as kube::CustomResourceExt>::crd_name()
        ),
        Err(err) => Err(anyhow::anyhow!("cannot list QuayRegistries: {err}")),
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
