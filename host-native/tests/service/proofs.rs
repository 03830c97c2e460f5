//! The proof service through the running binary, on real mainnet blocks 384189 and 413567:
//! every txid over gRPC and over JSON, each proof checked by the core and by @bsv/sdk; server
//! reflection, health and a gRPC-web call; errors; the `proof` command; and the swarm path
//! (a txid file missing locally is fetched from a libtorrent seeder, once).

use std::path::{Path, PathBuf};

use std::time::Duration;

use prost::Message;
use serde_json::Value;

use torrent_core::proof::bump::Bump;
use torrent_core::{Header, Txid};
use torrent_service::proto as pb;

use crate::common::{
    Service, bin, check, free_port, get, metric, metrics, node, temp, vectors, wait_for,
};

/// Header and txids of a real block, from our own decoder of the raw block.
fn block(height: u64) -> (Header, Vec<Txid>) {
    let b = crate::common::block(height);
    (b.header, b.txids())
}

/// `GET url`: status and the body as JSON (a JSON string when it is not JSON).
fn http_get(url: &str) -> (u16, Value) {
    let (status, body) = get(url, None);
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, v)
}

/// Proofs in flight, from the service's metrics.
fn in_flight(http: &str) -> u64 {
    metric(&metrics(http), "torrent_proof_in_flight").expect("torrent_proof_in_flight in /metrics")
        as u64
}

/// A service offloading blocks 384189 and 413567 (one bundle each, from `dir/src`) with
/// fixed ports, once both seed.
pub(crate) fn start(dir: &Path, ports: (u16, u16, u16, u16)) -> Service {
    let src = dir.join("src");
    if !src.exists() {
        std::fs::create_dir_all(&src).unwrap();
        for h in [384_189, 413_567] {
            std::fs::copy(
                vectors().join(format!("block-{h}.bin")),
                src.join(format!("{h}.bin")),
            )
            .unwrap();
        }
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "[torrent_service]\ndata_dir = \"{}\"\nlisten_host = \"127.0.0.1\"\ntracker_port = {}\nhttp_port = {}\nproof_rpc_port = {}\npeer_port = {}\nauth_token = \"operator-secret\"\nrate_limit_per_ip = 0\nrate_limit_global = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 262144\nannounce_interval_s = 2\naging_scan_interval_s = 1\n",
                dir.join("data").display(),
                ports.0,
                ports.1,
                ports.2,
                ports.3,
                src.display()
            ),
        )
        .unwrap();
    }
    let svc = Service::start_with(dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("both bundles seeding", 60, || {
        let (_, v) = http_get(&format!("http://{http}/v1/bundles"));
        v.as_array()
            .is_some_and(|b| b.len() == 2 && b.iter().all(|e| e["stage"] == "seeding"))
    });
    svc
}

/// @bsv/sdk recomputes each root from our BUMP.
fn sdk_check(items: &[Value]) {
    let v = &node("merklepath.mjs", &[Value::from(items)])[0];
    assert_eq!(v["checked"], items.len());
    assert_eq!(v["mismatches"], serde_json::json!([]), "@bsv/sdk disagrees");
}

/// A proof service on blocks 384189 and 413567 ([`start`]) with a gRPC client.
struct Served {
    svc: Service,
    dir: PathBuf,
    http: String,
    grpc_url: String,
    rt: tokio::runtime::Runtime,
    client: pb::proof_service_client::ProofServiceClient<tonic::transport::Channel>,
}

/// [`start`] in `temp(name)` with free ports, and a gRPC client of it on a runtime of its
/// own.
fn served(name: &str) -> Served {
    let dir = temp(name);
    let ports = (free_port(), free_port(), free_port(), free_port());
    let svc = start(&dir, ports);
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let grpc_url = format!("http://{}", svc.ready["grpc"].as_str().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt
        .block_on(pb::proof_service_client::ProofServiceClient::connect(
            grpc_url.clone(),
        ))
        .unwrap();
    Served {
        svc,
        dir,
        http,
        grpc_url,
        rt,
        client,
    }
}

/// Every txid of both blocks over gRPC (batches of 1,000) and over JSON (one request each):
/// each proof checked by the core and every BUMP by @bsv/sdk; the metrics' histogram has its
/// 500 ms edge and counts the JSON answers.
#[test]
fn every_txid_over_grpc_and_json_checked_by_core_and_sdk() {
    let Served {
        svc,
        dir,
        http,
        rt,
        mut client,
        ..
    } = served("proofs_all");
    let mut sdk_items = Vec::new();
    let mut total = 0;
    for height in [384_189u64, 413_567] {
        let (header, txids) = block(height);
        let n = txids.len() as u64;
        // gRPC, batches of 1,000 (`proof_max_batch`) for the whole block.
        let mut results = Vec::new();
        for batch in txids.chunks(1000) {
            let reply = rt
                .block_on(client.get_proofs(pb::GetProofsRequest {
                    txids: batch.iter().map(ToString::to_string).collect(),
                    format: pb::ProofFormat::All as i32,
                }))
                .unwrap()
                .into_inner();
            assert_eq!(reply.results.len(), batch.len());
            results.extend(reply.results);
        }
        for (i, (r, txid)) in results.iter().zip(&txids).enumerate() {
            let Some(pb::proof_result::Result::Proof(p)) = &r.result else {
                panic!("no proof for {txid}: {r:?}");
            };
            assert_eq!((p.height, p.index, p.tx_count), (height, i as u64, n));
            assert_eq!(p.header, header.to_bytes().to_vec());
            assert!(!p.infohash_v1.is_empty());
            check(height, &header, n, i as u64, txid, &p.bump, &p.tsc_json);
            sdk_items.push(serde_json::json!({
                "txid": txid.to_string(),
                "bump": torrent_core::hex::encode(&p.bump),
                "merkle_root": header.merkle_root.to_string(),
            }));
        }
        // JSON, one request per txid.
        for (i, txid) in txids.iter().enumerate() {
            let (status, v) = http_get(&format!("http://{http}/v1/proof/{txid}"));
            assert_eq!(status, 200, "{v}");
            assert_eq!(v["height"], height);
            assert_eq!(v["index"], i);
            assert_eq!(v["block_hash"], header.block_hash().to_string());
            let bump = torrent_core::hex::decode(v["bump"].as_str().unwrap()).unwrap();
            check(
                height,
                &header,
                n,
                i as u64,
                txid,
                &bump,
                &v["tsc"].to_string(),
            );
        }
        total += txids.len();
    }
    assert_eq!(total, 564 + 1557);
    sdk_check(&sdk_items);

    // Metrics: the histogram has its 500 ms edge and counts what was served.
    let text = metrics(&http);
    assert!(
        text.contains("torrent_proof_seconds_bucket{le=\"0.5\"}"),
        "{text}"
    );
    let ok_json: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("torrent_proof_requests_total{method=\"json\",outcome=\"ok\"} ")
        })
        .unwrap()
        .parse()
        .unwrap();
    assert!(ok_json >= 2121, "{ok_json}");
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// JSON proofs in one format on request, headers of offloaded heights only, and the bundle
/// holding a txid over gRPC.
#[test]
fn formats_headers_and_the_bundle_of_a_txid() {
    let Served {
        svc,
        dir,
        http,
        rt,
        mut client,
        ..
    } = served("proofs_formats");
    let (header, txids) = block(413_567);
    let (_, v) = http_get(&format!("http://{http}/v1/proof/{}?format=bump", txids[7]));
    assert!(v["tsc"].is_null() && !v["bump"].as_str().unwrap().is_empty());
    let (_, v) = http_get(&format!("http://{http}/v1/headers?from=384189&count=5"));
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "only offloaded heights: {v}");
    assert_eq!(
        list[1]["header"],
        torrent_core::hex::encode(&header.to_bytes())
    );
    let b = rt
        .block_on(client.get_bundle(pb::GetBundleRequest {
            txid: txids[3].to_string(),
        }))
        .unwrap()
        .into_inner();
    assert_eq!((b.height, b.index), (413_567, 3));
    assert!(b.txid_file.starts_with("txids/000413567-"));
    assert!(b.magnet.starts_with("magnet:?xt=urn:btih:"));

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad requests get one clear status each (gRPC and JSON), prefetch needs the operator's
/// token, and the server keeps serving.
#[test]
fn bad_requests_get_one_clear_status_each_and_prefetch_needs_the_operator() {
    let Served {
        svc,
        dir,
        http,
        rt,
        mut client,
        ..
    } = served("proofs_errors");
    let (_, txids) = block(413_567);
    let unknown = "00".repeat(32);
    let s = rt
        .block_on(client.get_proof(pb::GetProofRequest {
            txid: unknown.clone(),
            format: 0,
            height: None,
        }))
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::NotFound, "{s:?}");
    let s = rt
        .block_on(client.get_proof(pb::GetProofRequest {
            txid: "xyz".into(),
            format: 0,
            height: None,
        }))
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::InvalidArgument);
    let s = rt
        .block_on(client.get_proof(pb::GetProofRequest {
            txid: txids[0].to_string(),
            format: 99,
            height: None,
        }))
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::InvalidArgument);
    let (status, v) = http_get(&format!("http://{http}/v1/proof/{unknown}"));
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("not in any block"));
    let (status, _) = http_get(&format!("http://{http}/v1/proof/{}?format=pdf", txids[0]));
    assert_eq!(status, 400);
    let (status, _) = http_get(&format!("http://{http}/v1/headers?from=x"));
    assert_eq!(status, 400);
    let s = rt
        .block_on(client.prefetch(pb::PrefetchRequest {
            bundle: "bsv-mainnet-000413567-000413567".into(),
        }))
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::Unauthenticated);
    let mut req = tonic::Request::new(pb::PrefetchRequest {
        bundle: "bsv-mainnet-000413567-000413567".into(),
    });
    req.metadata_mut()
        .insert("authorization", "Bearer operator-secret".parse().unwrap());
    let r = rt.block_on(client.prefetch(req)).unwrap().into_inner();
    assert_eq!((r.txid_files, r.fetched), (1, 0));

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Streamed requests are answered in order, an unknown txid's error inline.
#[test]
fn streamed_proofs_come_in_order_with_errors_inline() {
    let Served {
        svc,
        dir,
        rt,
        mut client,
        ..
    } = served("proofs_stream");
    let (_, txids) = block(413_567);
    let unknown = "00".repeat(32);
    let reqs = vec![
        pb::GetProofRequest {
            txid: txids[1].to_string(),
            format: 1,
            height: None,
        },
        pb::GetProofRequest {
            txid: unknown.clone(),
            format: 1,
            height: None,
        },
        pb::GetProofRequest {
            txid: txids[2].to_string(),
            format: 2,
            height: None,
        },
    ];
    let results: Vec<pb::ProofResult> = rt.block_on(async {
        use tokio_stream::StreamExt;
        let mut s = client
            .stream_proofs(tokio_stream::iter(reqs))
            .await
            .unwrap()
            .into_inner();
        let mut out = Vec::new();
        while let Some(r) = s.next().await {
            out.push(r.unwrap());
        }
        out
    });
    assert_eq!(results.len(), 3);
    assert!(
        matches!(&results[0].result, Some(pb::proof_result::Result::Proof(p)) if p.index == 1 && p.tsc_json.is_empty())
    );
    assert!(
        matches!(&results[1].result, Some(pb::proof_result::Result::Error(e)) if e.code == tonic::Code::NotFound as i32)
    );
    assert!(
        matches!(&results[2].result, Some(pb::proof_result::Result::Proof(p)) if p.bump.is_empty() && !p.tsc_json.is_empty())
    );

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// gRPC health says the proof service is serving, and server reflection lists it (and
/// health) and describes its methods.
#[test]
fn health_and_reflection_describe_the_proof_service() {
    let Served {
        svc,
        dir,
        grpc_url,
        rt,
        ..
    } = served("proofs_health");
    rt.block_on(async {
        let channel = tonic::transport::Channel::from_shared(grpc_url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "torrent.v1.ProofService".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut refl = ServerReflectionClient::new(channel);
        let reqs = vec![
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            },
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::FileContainingSymbol(
                    "torrent.v1.ProofService".into(),
                )),
            },
        ];
        use tokio_stream::StreamExt;
        let mut s = refl
            .server_reflection_info(tokio_stream::iter(reqs))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            s.next().await.unwrap().unwrap().message_response
        else {
            panic!("no service list");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"torrent.v1.ProofService".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"grpc.health.v1.Health".to_string()),
            "{names:?}"
        );
        let Some(MessageResponse::FileDescriptorResponse(fd)) =
            s.next().await.unwrap().unwrap().message_response
        else {
            panic!("no descriptor");
        };
        let file = prost_types::FileDescriptorProto::decode(fd.file_descriptor_proto[0].as_slice())
            .unwrap();
        assert_eq!(file.package(), "torrent.v1");
        let methods: Vec<&str> = file.service[0].method.iter().map(|m| m.name()).collect();
        assert!(methods.contains(&"GetProof") && methods.contains(&"StreamProofs"));
    });

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gRPC-web call over HTTP/1.1, as a browser sends it: a data frame with a proof the core
/// checks, then the trailer frame with status 0.
#[test]
fn a_grpc_web_call_over_http1_gets_a_proof_and_its_trailer() {
    let Served {
        svc, dir, grpc_url, ..
    } = served("proofs_web");
    let (header, txids) = block(413_567);
    let msg = pb::GetProofRequest {
        txid: txids[5].to_string(),
        format: 0,
        height: None,
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&msg);
    let mut resp = ureq::post(&format!("{grpc_url}/torrent.v1.ProofService/GetProof"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .send(frame.as_slice())
        .unwrap();
    let body = resp.body_mut().read_to_vec().unwrap();
    assert_eq!(body[0], 0, "a data frame first");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let p = pb::Proof::decode(&body[5..5 + len]).unwrap();
    check(
        413_567,
        &header,
        txids.len() as u64,
        5,
        &txids[5],
        &p.bump,
        &p.tsc_json,
    );
    let trailer = String::from_utf8_lossy(&body[5 + len + 5..]);
    assert_eq!(body[5 + len], 0x80, "then the trailer frame");
    assert!(trailer.contains("grpc-status:0"), "{trailer}");

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `proof` command prints a proof as JSON or as a BUMP the core verifies, and fails for
/// an unknown txid with exit code 1 and one line naming NotFound.
#[test]
fn the_proof_command_prints_json_and_bump_and_fails_in_one_line() {
    let Served {
        svc, dir, grpc_url, ..
    } = served("proofs_cli");
    let (header, txids) = block(413_567);
    let unknown = "00".repeat(32);
    let o = bin()
        .args([
            "proof",
            &txids[9].to_string(),
            "--server",
            &grpc_url,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["index"], 9);
    let o = bin()
        .args([
            "proof",
            &txids[9].to_string(),
            "--server",
            &grpc_url,
            "--format",
            "bump",
        ])
        .output()
        .unwrap();
    let bump = torrent_core::hex::decode(String::from_utf8(o.stdout).unwrap().trim()).unwrap();
    assert_eq!(
        Bump::decode(&bump)
            .unwrap()
            .verify(&txids[9], 413_567, txids.len() as u64, &header.merkle_root)
            .unwrap(),
        9
    );
    let o = bin()
        .args(["proof", &unknown, "--server", &grpc_url])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("NotFound"), "{err}");

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_txid_file_is_fetched_once_from_the_swarm() {
    let dir = temp("swarm");
    let ports = (free_port(), free_port(), free_port(), free_port());
    let svc = start(&dir, ports);
    svc.stop();
    // Another miner's copy of the bundle (same blocks, same info-hash), seeded by libtorrent.
    let name = "bsv-mainnet-000413567-000413567";
    let bundles = dir.join("data/bundles");
    let other = dir.join("other");
    let o = bin()
        .args([
            "bundle",
            "--source",
            &format!("dir:{}", dir.join("src").display()),
            "--out",
        ])
        .arg(&other)
        .args([
            "--first",
            "413567",
            "--last",
            "413567",
            "--piece-size",
            "262144",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ih = |p: PathBuf| {
        torrent_core::metainfo::Metainfo::parse(&std::fs::read(p).unwrap(), &Default::default())
            .unwrap()
            .infohash_v1
    };
    assert_eq!(
        ih(other.join(format!("{name}.torrent"))),
        ih(bundles.join(format!("{name}.torrent"))),
        "another miner's bundle of the same block is the same torrent"
    );
    // The service's own copy of the txid file is gone (pruned bundle data).
    let txids_dir = bundles.join(name).join("txids");
    let file = std::fs::read_dir(&txids_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&file).unwrap();

    let svc = Service::start_with(&dir, "");
    // The other miner's seeder joins once the tracker is up again: an announce that failed
    // while it was down would leave libtorrent in its retry backoff, which can outlast the
    // fetch timeout on a loaded machine.
    let tracker = format!("http://127.0.0.1:{}/announce", ports.0);
    let (_lt, _out, ready) = crate::common::lt_seed(
        other.join(format!("{name}.torrent")).to_str().unwrap(),
        &other,
        &tracker,
    );
    assert_eq!(ready["seeding"], true);
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let (header, txids) = block(413_567);
    // Twenty concurrent requests for different txids of the block share one fetch.
    let answers: Vec<Value> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let (http, txid) = (http.clone(), txids[i * 50].to_string());
                s.spawn(move || {
                    let (status, v) = http_get(&format!("http://{http}/v1/proof/{txid}"));
                    assert_eq!(status, 200, "{v}");
                    v
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, v) in answers.iter().enumerate() {
        let bump = torrent_core::hex::decode(v["bump"].as_str().unwrap()).unwrap();
        check(
            413_567,
            &header,
            txids.len() as u64,
            (i * 50) as u64,
            &txids[i * 50],
            &bump,
            &v["tsc"].to_string(),
        );
    }
    assert!(
        answers.iter().any(|v| v["source"] == "swarm"),
        "one answer says where it came from"
    );
    assert!(file.exists(), "the fetched txid file is kept");
    assert!(
        std::fs::read(&file).unwrap()
            == std::fs::read(
                other
                    .join(name)
                    .join("txids")
                    .join(file.file_name().unwrap())
            )
            .unwrap()
    );
    let text = metrics(&http);
    assert!(
        text.contains("torrent_proof_swarm_fetches_total 1\n"),
        "one fetch for twenty requests"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A service (config plus `extra`) whose block 413567 txid file is gone while no seeder
/// has it, so that a proof of that block waits on the swarm and holds its slot. The aging
/// scan runs once at start and then not again: its retries to seed the incomplete bundle
/// would take the torrent from under a waiting request's fetch.
fn start_without_413567_txids(name: &str, extra: &str) -> (PathBuf, Service) {
    let dir = temp(name);
    let ports = (free_port(), free_port(), free_port(), free_port());
    let svc = start(&dir, ports);
    svc.stop();
    let mut cfg = std::fs::read_to_string(dir.join("config.toml"))
        .unwrap()
        .replace(
            "aging_scan_interval_s = 1\n",
            "aging_scan_interval_s = 3600\n",
        );
    cfg.push_str(extra);
    std::fs::write(dir.join("config.toml"), cfg).unwrap();
    let txids_dir = dir.join("data/bundles/bsv-mainnet-000413567-000413567/txids");
    for e in std::fs::read_dir(&txids_dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let svc = Service::start_with(&dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    // The start's scan has tried both bundles (384189 seeds, 413567 cannot).
    wait_for("the start's aging scan", 30, || {
        let (_, v) = http_get(&format!("http://{http}/v1/bundles"));
        v.as_array()
            .is_some_and(|b| b.len() == 2 && b.iter().any(|e| e["stage"] == "seeding"))
    });
    std::thread::sleep(Duration::from_secs(1));
    (dir, svc)
}

#[test]
fn overload_is_refused_with_resource_exhausted_and_the_service_keeps_serving() {
    // One proof at a time: a request for a 413567 txid holds the only slot.
    let (dir, svc) = start_without_413567_txids("busy", "proof_max_concurrency = 1\n");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let grpc_url = format!("http://{}", svc.ready["grpc"].as_str().unwrap());
    let (_, t413) = block(413_567);
    let (_, t384) = block(384_189);
    let stuck = {
        let (http, txid) = (http.clone(), t413[0].to_string());
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            let _ = agent.get(&format!("http://{http}/v1/proof/{txid}")).call();
        })
    };
    // Once the stuck request holds the slot (on a loaded machine it may take a moment to
    // arrive), everyone else is refused at once.
    wait_for("the stuck request to hold the slot", 10, || {
        in_flight(&http) == 1
    });
    let (status, v) = http_get(&format!("http://{http}/v1/proof/{}", t384[0]));
    assert_eq!(status, 429, "{v}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt
        .block_on(async {
            let mut c = pb::proof_service_client::ProofServiceClient::connect(grpc_url)
                .await
                .unwrap();
            c.get_proof(pb::GetProofRequest {
                txid: t384[1].to_string(),
                format: 0,
                height: None,
            })
            .await
        })
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
    // Everything else keeps working: the registry and metrics answer.
    let (status, _) = http_get(&format!("http://{http}/v1/bundles"));
    assert_eq!(status, 200);
    let text = metrics(&http);
    assert!(text.contains("torrent_proof_requests_total{method=\"json\",outcome=\"busy\"} 1\n"));
    stuck.join().unwrap();
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Three proofs at once, two per client, five seconds each; replies of 64 KiB, batches of
/// 300 at most: [`start_without_413567_txids`] in `temp(name)`, where a request for a 413567
/// txid holds its slot until the deadline. Returns the folder, the service and a gRPC client
/// of it on a runtime of its own.
fn fair(
    name: &str,
) -> (
    PathBuf,
    Service,
    tokio::runtime::Runtime,
    pb::proof_service_client::ProofServiceClient<tonic::transport::Channel>,
) {
    let (dir, svc) = start_without_413567_txids(
        name,
        "proof_max_concurrency = 3\nproof_max_per_client = 2\nproof_deadline_s = 5\nproof_max_batch = 300\nproof_max_reply_bytes = 65536\n",
    );
    let grpc_url = format!("http://{}", svc.ready["grpc"].as_str().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt
        .block_on(pb::proof_service_client::ProofServiceClient::connect(
            grpc_url,
        ))
        .unwrap();
    (dir, svc, rt, client)
}

/// A greedy client holding two slow proofs gets its third refused at once (429), while
/// another client is served; the stuck proofs end at the deadline (504) and free their
/// slots; the metrics count the timeouts and both refusals.
#[test]
fn one_client_holding_slow_proofs_does_not_starve_another() {
    let (dir, svc, _rt, _client) = fair("fair_clients");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let (_, t413) = block(413_567);
    let (h384, t384) = block(384_189);
    let get = |src: &str, txid: &Txid| {
        crate::common::http_from(src, &http, "GET", &format!("/v1/proof/{txid}"), "", "")
    };

    // The greedy client (127.0.0.1) asks for three slow proofs at once: without a per-client
    // limit they would take every permit.
    let greedy: Vec<_> = (0..3)
        .map(|i| {
            let (http, txid) = (http.clone(), t413[i].to_string());
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                let (status, _) = crate::common::http_from(
                    "127.0.0.1",
                    &http,
                    "GET",
                    &format!("/v1/proof/{txid}"),
                    "",
                    "",
                );
                (status, started.elapsed())
            })
        })
        .collect();
    // Once two of them hold the client's slots, its next request is refused at once, even
    // for a proof that would be instant.
    wait_for("two slow proofs in flight", 10, || in_flight(&http) == 2);
    let (status, body) = get("127.0.0.1", &t384[0]);
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("from this client"), "{body}");
    // Another client is served while the greedy one's proofs are stuck.
    let (status, body) = get("127.0.0.2", &t384[7]);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    check(
        384_189,
        &h384,
        t384.len() as u64,
        7,
        &t384[7],
        &torrent_core::hex::decode(v["bump"].as_str().unwrap()).unwrap(),
        &v["tsc"].to_string(),
    );
    // The stuck proofs end at the deadline (504) and free their slots; the third was refused.
    let mut outcomes: Vec<(u16, Duration)> =
        greedy.into_iter().map(|t| t.join().unwrap()).collect();
    outcomes.sort();
    assert_eq!(
        outcomes.iter().map(|o| o.0).collect::<Vec<_>>(),
        [429, 504, 504],
        "{outcomes:?}"
    );
    assert!(outcomes[1].1 >= Duration::from_secs(4), "{outcomes:?}");
    assert_eq!(in_flight(&http), 0);
    let (status, _) = get("127.0.0.1", &t384[0]);
    assert_eq!(
        status, 200,
        "the greedy client is served again once its proofs ended"
    );

    let text = metrics(&http);
    assert!(
        text.contains("torrent_proof_requests_total{method=\"json\",outcome=\"timeout\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("torrent_proof_client_busy_total 2\n"),
        "both refusals are counted"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gRPC batch larger than `proof_max_batch` is refused whole; a reply stops carrying
/// proofs past `proof_max_reply_bytes`, the rest answered RESOURCE_EXHAUSTED, to be asked
/// again.
#[test]
fn batches_are_bounded_in_count_and_reply_bytes() {
    let (dir, svc, rt, mut c) = fair("fair_batch");
    let (h384, t384) = block(384_189);
    rt.block_on(async {
        let s = c
            .get_proofs(pb::GetProofsRequest {
                txids: t384.iter().take(301).map(ToString::to_string).collect(),
                format: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
        let n = t384.len().min(300);
        let reply = c
            .get_proofs(pb::GetProofsRequest {
                txids: t384.iter().take(n).map(ToString::to_string).collect(),
                format: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.results.len(), n);
        let proofs: Vec<&pb::Proof> = reply
            .results
            .iter()
            .filter_map(|r| match &r.result {
                Some(pb::proof_result::Result::Proof(p)) => Some(p),
                _ => None,
            })
            .collect();
        assert!(
            !proofs.is_empty() && proofs.len() < n,
            "{} of {n}",
            proofs.len()
        );
        let proof_bytes: usize = proofs.iter().map(|p| p.encoded_len()).sum();
        let largest = proofs.iter().map(|p| p.encoded_len()).max().unwrap();
        assert!(
            proof_bytes <= 65_536 + largest,
            "{proof_bytes} bytes of proofs"
        );
        for (i, r) in reply.results.iter().enumerate() {
            match &r.result {
                Some(pb::proof_result::Result::Proof(p)) => {
                    assert!(i < proofs.len());
                    check(
                        384_189,
                        &h384,
                        t384.len() as u64,
                        i as u64,
                        &t384[i],
                        &p.bump,
                        &p.tsc_json,
                    );
                }
                Some(pb::proof_result::Result::Error(e)) => {
                    assert!(i >= proofs.len());
                    assert_eq!(e.code, tonic::Code::ResourceExhausted as i32, "{e:?}");
                    assert_eq!(e.txid, t384[i].to_string());
                }
                None => panic!("an empty result"),
            }
        }
    });
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One deadline for a whole gRPC batch: the slow proof spends it, and the proof after it
/// is not started.
#[test]
fn a_batch_has_one_deadline_and_proofs_after_a_slow_one_are_not_started() {
    let (dir, svc, rt, mut c) = fair("fair_deadline");
    let (_, t413) = block(413_567);
    let (_, t384) = block(384_189);
    rt.block_on(async {
        let started = std::time::Instant::now();
        let reply = c
            .get_proofs(pb::GetProofsRequest {
                txids: vec![
                    t384[1].to_string(),
                    t413[5].to_string(),
                    t384[2].to_string(),
                ],
                format: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let codes: Vec<i32> = reply
            .results
            .iter()
            .map(|r| match &r.result {
                Some(pb::proof_result::Result::Proof(_)) => 0,
                Some(pb::proof_result::Result::Error(e)) => e.code,
                None => -1,
            })
            .collect();
        let late = tonic::Code::DeadlineExceeded as i32;
        assert_eq!(codes, [0, late, late], "{reply:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    });
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
