//! The gRPC proof server on `proof_rpc_port` (tonic): `torrent.v1.ProofService`,
//! `grpc.health.v1.Health`, server reflection (v1 and v1alpha), and gRPC-web for browsers
//! (HTTP/1.1 accepted). Answers come from [`crate::proofs::Proofs`], as the JSON API's do.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use torrent_core::verdict::ProofFormat;

use crate::proofs::{Formats, ProofAnswer, ProofFailure, ProofRequest, Proofs, Source, parse_txid};

use crate::proto as pb;
use pb::proof_service_server::{ProofService, ProofServiceServer};

impl From<ProofFailure> for Status {
    fn from(f: ProofFailure) -> Self {
        match f {
            ProofFailure::Invalid(m) => Status::invalid_argument(m),
            ProofFailure::NotFound(m) => Status::not_found(m),
            ProofFailure::Busy(m) => Status::resource_exhausted(m),
            ProofFailure::Unavailable(m) => Status::unavailable(m),
            ProofFailure::Timeout(m) => Status::deadline_exceeded(m),
            f @ ProofFailure::Internal(_) => Status::internal(f.public_message()),
        }
    }
}

/// An answer read back from the wire (the `proof` command prints it as the JSON API would).
///
/// # Errors
/// A source or TSC the answer cannot hold.
pub(crate) fn from_wire(p: pb::Proof) -> Result<ProofAnswer, String> {
    let source = [Source::Cache, Source::Local, Source::Swarm, Source::Seeder]
        .into_iter()
        .find(|s| s.as_str() == p.source)
        .ok_or_else(|| format!("unknown source {:?}", p.source))?;
    let tsc = if p.tsc_json.is_empty() {
        None
    } else {
        Some(
            serde_json::value::RawValue::from_string(p.tsc_json)
                .map_err(|e| format!("tsc: {e}"))?,
        )
    };
    Ok(ProofAnswer {
        txid: p.txid.parse().map_err(|e| format!("txid: {e}"))?,
        height: p.height,
        block_hash: p
            .block_hash
            .parse()
            .map_err(|e| format!("block_hash: {e}"))?,
        tx_count: p.tx_count,
        index: p.index,
        header: p.header,
        bump: p.bump,
        tsc,
        infohash_v1: p
            .infohash_v1
            .parse()
            .map_err(|e| format!("infohash_v1: {e}"))?,
        bundle: p.bundle,
        txid_file: p.txid_file,
        elapsed_us: p.elapsed_us,
        source,
        other_heights: p.other_heights,
    })
}

/// The wire's format field for `f` (the `proof` command's request).
pub(crate) fn to_wire(f: Formats) -> pb::ProofFormat {
    match f.single() {
        None => pb::ProofFormat::All,
        Some(ProofFormat::Bump) => pb::ProofFormat::Bump,
        Some(ProofFormat::Tsc) => pb::ProofFormat::Tsc,
    }
}

/// The formats a request's wire field names.
fn formats(f: i32) -> Result<Formats, ProofFailure> {
    match pb::ProofFormat::try_from(f) {
        Ok(pb::ProofFormat::All) => Ok(Formats::BOTH),
        Ok(pb::ProofFormat::Bump) => Ok(Formats::only(ProofFormat::Bump)),
        Ok(pb::ProofFormat::Tsc) => Ok(Formats::only(ProofFormat::Tsc)),
        Err(_) => Err(ProofFailure::Invalid(format!("unknown proof format {f}"))),
    }
}

fn to_pb(a: ProofAnswer) -> pb::Proof {
    pb::Proof {
        txid: a.txid.to_string(),
        height: a.height,
        block_hash: a.block_hash.to_string(),
        tx_count: a.tx_count,
        index: a.index,
        header: a.header,
        bump: a.bump,
        tsc_json: a.tsc.map(|t| t.get().to_string()).unwrap_or_default(),
        infohash_v1: a.infohash_v1.to_string(),
        bundle: a.bundle,
        txid_file: a.txid_file,
        elapsed_us: a.elapsed_us,
        source: a.source.as_str().into(),
        other_heights: a.other_heights,
    }
}

fn code_of(f: &ProofFailure) -> i32 {
    Status::from(f.clone()).code() as i32
}

/// The service implementation.
#[derive(Debug, Clone)]
pub(crate) struct Grpc {
    proofs: Arc<Proofs>,
    auth: Arc<crate::auth::Authorizer>,
    limits: Arc<crate::net::limit::RateLimits>,
    batch: Batch,
    catalog: Arc<crate::http::registry::Catalog>,
}

/// Bounds of one `GetProofs` call (DESIGN §16): a client asking for more uses
/// `StreamProofs`, whose replies flow with the client's reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch {
    /// Most txids one call may name.
    pub max_txids: usize,
    /// Proof bytes after which the remaining txids are answered RESOURCE_EXHAUSTED.
    pub max_reply_bytes: usize,
    /// Deadline of the whole call.
    pub deadline: std::time::Duration,
}

impl Batch {
    /// From the config's `proof_*` keys.
    pub(crate) fn from_config(c: &crate::config::Config) -> Self {
        Self {
            max_txids: c.proof_max_batch,
            max_reply_bytes: c.proof_max_reply_bytes,
            deadline: std::time::Duration::from_secs(c.proof_deadline_s),
        }
    }
}

/// The client's IP, from the connection the call came on.
fn client_ip<T>(request: &Request<T>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<crate::net::conn::ConnInfo>()
        .map(|c| c.remote.ip())
}

impl Grpc {
    /// A server over `proofs`; `auth` decides operator calls; `limits` rates each client;
    /// `batch` bounds `GetProofs`; `catalog` is the bundle store's torrents, in memory.
    pub(crate) fn new(
        proofs: Arc<Proofs>,
        auth: Arc<crate::auth::Authorizer>,
        limits: Arc<crate::net::limit::RateLimits>,
        batch: Batch,
        catalog: Arc<crate::http::registry::Catalog>,
    ) -> Self {
        Self {
            proofs,
            auth,
            limits,
            batch,
            catalog,
        }
    }

    /// Spends one request of the client's read quota.
    async fn limit(&self, from: Option<std::net::IpAddr>) -> Result<(), Status> {
        self.limit_n(from, 1, 1).await
    }

    /// Spends `requests` of the client's read quota, each `weight` of the ceiling (a proof
    /// is [`crate::net::limit::PROOF_COST`]); a refusal is sent after a pause, as on HTTP
    /// ([`crate::net::limit::Limiter::admit`]).
    async fn limit_n(
        &self,
        from: Option<std::net::IpAddr>,
        requests: u32,
        weight: u32,
    ) -> Result<(), Status> {
        match from {
            Some(ip) => self
                .limits
                .reads
                .admit(ip, requests, weight)
                .await
                .map_err(|e| Status::resource_exhausted(e.to_string())),
            None => Ok(()),
        }
    }

    async fn one(
        &self,
        method: &str,
        (txid, f, height): (&str, i32, Option<u64>),
        from: Option<std::net::IpAddr>,
        deadline: Option<Instant>,
    ) -> Result<pb::Proof, ProofFailure> {
        let started = Instant::now();
        let r = match (formats(f), parse_txid(txid)) {
            (Ok(formats), Ok(txid)) => {
                let req = ProofRequest {
                    txid,
                    height,
                    formats,
                };
                match deadline {
                    Some(d) => self.proofs.prove_by(req, from, d).await,
                    None => self.proofs.prove(req, from).await,
                }
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let outcome = r.as_ref().map_or_else(ProofFailure::outcome, |_| "ok");
        self.proofs
            .metrics
            .record(method, outcome, started.elapsed());
        r.map(to_pb)
    }

    fn result(txid: &str, r: Result<pb::Proof, ProofFailure>) -> pb::ProofResult {
        pb::ProofResult {
            result: Some(match r {
                Ok(p) => pb::proof_result::Result::Proof(p),
                Err(e) => pb::proof_result::Result::Error(pb::ProofError {
                    txid: txid.to_string(),
                    code: code_of(&e),
                    message: e.public_message().to_string(),
                }),
            }),
        }
    }
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<pb::ProofResult, Status>> + Send>>;

#[tonic::async_trait]
impl ProofService for Grpc {
    async fn get_proof(
        &self,
        request: Request<pb::GetProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let from = client_ip(&request);
        self.limit_n(from, 1, crate::net::limit::PROOF_COST).await?;
        let r = request.into_inner();
        Ok(Response::new(
            self.one("GetProof", (&r.txid, r.format, r.height), from, None)
                .await?,
        ))
    }

    async fn get_proofs(
        &self,
        request: Request<pb::GetProofsRequest>,
    ) -> Result<Response<pb::GetProofsResponse>, Status> {
        let from = client_ip(&request);
        let r = request.into_inner();
        if r.txids.len() > self.batch.max_txids {
            self.limit(from).await?;
            return Err(Status::invalid_argument(format!(
                "{} txids: at most {} per call (use StreamProofs for more)",
                r.txids.len(),
                self.batch.max_txids
            )));
        }
        // A batch counts as its txids (at most a whole second of the client's quota).
        let n = u32::try_from(r.txids.len()).unwrap_or(u32::MAX).max(1);
        self.limit_n(from, n, crate::net::limit::PROOF_COST).await?;
        // One deadline for the whole call, and a bound on the reply's bytes: the txids past
        // either are answered with an error naming it, so the client knows what to ask again.
        let deadline = Instant::now() + self.batch.deadline;
        let mut bytes = 0usize;
        let mut results = Vec::with_capacity(r.txids.len());
        for t in &r.txids {
            let answer = if bytes >= self.batch.max_reply_bytes {
                Err(ProofFailure::Busy(format!(
                    "this reply reached {} bytes; ask for the rest in another call",
                    self.batch.max_reply_bytes
                )))
            } else {
                self.one("GetProofs", (t, r.format, None), from, Some(deadline))
                    .await
            };
            let item = Self::result(t, answer);
            bytes = bytes.saturating_add(prost::Message::encoded_len(&item));
            results.push(item);
        }
        Ok(Response::new(pb::GetProofsResponse { results }))
    }

    type StreamProofsStream = ResultStream;

    async fn stream_proofs(
        &self,
        request: Request<tonic::Streaming<pb::GetProofRequest>>,
    ) -> Result<Response<Self::StreamProofsStream>, Status> {
        let from = client_ip(&request);
        self.limit(from).await?;
        let mut input = request.into_inner();
        let this = self.clone();
        let out = async_stream(move |tx| async move {
            while let Some(item) = input.next().await {
                let msg = match item {
                    Ok(req) => match this.limit_n(from, 1, crate::net::limit::PROOF_COST).await {
                        Ok(()) => Ok(Self::result(
                            &req.txid,
                            this.one(
                                "StreamProofs",
                                (&req.txid, req.format, req.height),
                                from,
                                None,
                            )
                            .await,
                        )),
                        Err(s) => Err(s),
                    },
                    Err(s) => Err(s),
                };
                let stop = msg.is_err();
                if tx.send(msg).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(out))
    }

    async fn get_headers(
        &self,
        request: Request<pb::GetHeadersRequest>,
    ) -> Result<Response<pb::GetHeadersResponse>, Status> {
        self.limit(client_ip(&request)).await?;
        let r = request.into_inner();
        let count = if r.count == 0 { 1 } else { r.count };
        let headers = self
            .proofs
            .headers(r.from, count)?
            .into_iter()
            .map(|(height, h)| pb::Header {
                height,
                block_hash: torrent_core::Header::decode(&h.header)
                    .map(|x| x.block_hash().to_string())
                    .unwrap_or_default(),
                header: h.header,
                tx_count: h.tx_count,
            })
            .collect();
        Ok(Response::new(pb::GetHeadersResponse { headers }))
    }

    async fn get_transaction(
        &self,
        request: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::Transaction>, Status> {
        let started = Instant::now();
        let from = client_ip(&request);
        self.limit_n(from, 1, crate::net::limit::PROOF_COST).await?;
        let r = request.into_inner();
        let res = match parse_txid(&r.txid) {
            Ok(txid) => self.proofs.transaction(txid, r.height, from).await,
            Err(e) => Err(e),
        };
        let outcome = res.as_ref().map_or_else(ProofFailure::outcome, |_| "ok");
        self.proofs
            .metrics
            .record("GetTransaction", outcome, started.elapsed());
        let tx = res?;
        Ok(Response::new(pb::Transaction {
            txid: tx.txid.to_string(),
            raw_tx: tx.raw.to_vec(),
            height: tx.height,
            block_hash: tx.block_hash.to_string(),
            index: tx.index,
            source: tx.source.as_str().to_string(),
        }))
    }

    async fn get_beef(
        &self,
        request: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::Beef>, Status> {
        let started = Instant::now();
        let from = client_ip(&request);
        self.limit_n(from, 1, crate::net::limit::PROOF_COST).await?;
        let r = request.into_inner();
        let res = match parse_txid(&r.txid) {
            Ok(txid) => self.proofs.beef(txid, r.height, from).await,
            Err(e) => Err(e),
        };
        let outcome = res.as_ref().map_or_else(ProofFailure::outcome, |_| "ok");
        self.proofs
            .metrics
            .record("GetBeef", outcome, started.elapsed());
        let (tx, beef) = res?;
        Ok(Response::new(pb::Beef {
            txid: tx.txid.to_string(),
            beef,
            height: tx.height,
            block_hash: tx.block_hash.to_string(),
            index: tx.index,
        }))
    }

    async fn get_bundle(
        &self,
        request: Request<pb::GetBundleRequest>,
    ) -> Result<Response<pb::Bundle>, Status> {
        let started = Instant::now();
        self.limit(client_ip(&request)).await?;
        let r = request.into_inner();
        let res = self.proofs.bundle_of(&r.txid, &self.catalog);
        let outcome = res.as_ref().map_or_else(ProofFailure::outcome, |_| "ok");
        self.proofs
            .metrics
            .record("GetBundle", outcome, started.elapsed());
        Ok(Response::new(res?))
    }

    async fn prefetch(
        &self,
        request: Request<pb::PrefetchRequest>,
    ) -> Result<Response<pb::PrefetchResponse>, Status> {
        let token = crate::auth::bearer(
            request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
        );
        match self
            .auth
            .check_from(client_ip(&request), token, "Prefetch")
            .await
        {
            Ok(_) => {}
            Err(e @ crate::auth::AuthError::Unavailable(_)) => {
                return Err(Status::unavailable(e.to_string()));
            }
            Err(e @ crate::auth::AuthError::Limited) => {
                return Err(Status::resource_exhausted(e.to_string()));
            }
            Err(e) => {
                return Err(Status::unauthenticated(format!(
                    "Prefetch is an operator call: send authorization: Bearer <auth_token> ({e})"
                )));
            }
        }
        let r = request.into_inner();
        let (files, fetched) = self.proofs.prefetch(&r.bundle).await?;
        Ok(Response::new(pb::PrefetchResponse {
            txid_files: files,
            fetched,
        }))
    }
}

impl Proofs {
    /// Which bundle and files hold `txid`; the magnet link comes from the in-memory
    /// `catalog` of the bundle store.
    ///
    /// # Errors
    /// Malformed or unknown txid.
    pub(crate) fn bundle_of(
        &self,
        txid: &str,
        catalog: &crate::http::registry::Catalog,
    ) -> Result<pb::Bundle, ProofFailure> {
        let (height, index, hr) = self.locate(&parse_txid(txid)?)?;
        let rec = self
            .store()
            .bundle(&hr.bundle)
            .map_err(|e| ProofFailure::Internal(e.to_string()))?;
        let magnet = catalog
            .by_name(&hr.bundle)
            .and_then(|e| e.summary.as_ref().map(|s| s.magnet.clone()))
            .unwrap_or_default();
        Ok(pb::Bundle {
            name: hr.bundle.clone(),
            first: rec.as_ref().map_or(height, |r| r.first),
            last: rec.as_ref().map_or(height, |r| r.last),
            infohash_v1: hr.infohash_v1.to_string(),
            magnet,
            height,
            index,
            block_file: hr.block_file,
            txid_file: hr.txid_file,
            stage: rec.map(|r| r.stage).unwrap_or_default(),
        })
    }
}

/// A stream fed by a task through a bounded channel (backpressure: the task waits when the
/// client reads slowly).
fn async_stream<F, Fut>(f: F) -> ResultStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<pb::ProofResult, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// HTTP/2 limits of the proof server (DESIGN §16).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// Calls in progress per connection; more are refused at once (load shedding).
    pub concurrency_per_connection: usize,
    /// Keepalive ping interval.
    pub keepalive_interval: std::time::Duration,
    /// Ping answer deadline.
    pub keepalive_timeout: std::time::Duration,
    /// Deadline of one call (the client's `grpc-timeout` when shorter).
    pub request_timeout: std::time::Duration,
}

impl Settings {
    /// From the configuration.
    pub(crate) fn from_config(c: &crate::config::Config) -> Self {
        use std::time::Duration;
        Self {
            max_concurrent_streams: c.grpc_max_concurrent_streams,
            concurrency_per_connection: c.grpc_concurrency_per_connection,
            keepalive_interval: Duration::from_secs(c.grpc_keepalive_interval_s),
            keepalive_timeout: Duration::from_secs(c.grpc_keepalive_timeout_s),
            request_timeout: Duration::from_secs(c.request_timeout_s),
        }
    }
}

/// Local stream resets (protocol errors the server answers with RST_STREAM) a connection may
/// cause before it is closed: hyper's default, which tonic leaves off (CVE-2025-8671,
/// "MadeYouReset").
const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// Serves gRPC (and gRPC-web) on `listener` under `gate`'s connection limits until
/// `shutdown`; the health service follows `storage` (SERVING while the database accepts
/// writes, NOT_SERVING otherwise), for the whole server and for `torrent.v1.ProofService`.
///
/// # Errors
/// Reflection setup or the server failing.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    gate: Arc<crate::net::conn::Gate>,
    grpc: Grpc,
    settings: Settings,
    mut storage: tokio::sync::watch::Receiver<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    let health_task = tokio::spawn(async move {
        loop {
            let status = if *storage.borrow_and_update() {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            health_reporter.set_service_status("", status).await;
            health_reporter
                .set_service_status(
                    <ProofServiceServer<Grpc> as tonic::server::NamedService>::NAME,
                    status,
                )
                .await;
            if storage.changed().await.is_err() {
                break;
            }
        }
    });
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::DESCRIPTOR)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::DESCRIPTOR)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    // Accepted under the gate's caps (with TCP_NODELAY: small replies must not wait for
    // delayed ACKs, which cost 40 ms per proof) and handed to tonic through a channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<crate::net::conn::Conn, std::io::Error>>(16);
    let accept = tokio::spawn(async move {
        loop {
            let conn = gate.accept(&listener).await;
            if tx.send(Ok(conn)).await.is_err() {
                break;
            }
        }
    });
    let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
    // tonic waits at shutdown until every connection has closed, and an idle h2c client
    // may never close its own: past the grace period the server is dropped.
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    };
    let grace = async move {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(crate::net::conn::SHUTDOWN_GRACE).await;
    };
    let served = tonic::transport::Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(settings.max_concurrent_streams)
        .concurrency_limit_per_connection(settings.concurrency_per_connection)
        .load_shed(true)
        .timeout(settings.request_timeout)
        .http2_keepalive_interval(Some(settings.keepalive_interval))
        .http2_keepalive_timeout(Some(settings.keepalive_timeout))
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .layer(crate::net::conn::Track)
        .layer(tonic_web::GrpcWebLayer::new())
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ProofServiceServer::new(grpc))
        .serve_with_incoming_shutdown(incoming, shutdown);
    let served = tokio::select! {
        r = served => r,
        () = grace => {
            tracing::debug!("gRPC connections still open {:?} after shutdown; closing them", crate::net::conn::SHUTDOWN_GRACE);
            Ok(())
        }
    };
    accept.abort();
    health_task.abort();
    served?;
    Ok(())
}
