//! Property tests: random trees of 1..5000 leaves prove every way; damaged proofs fail with
//! an error; decoders never panic on arbitrary bytes.

use proptest::prelude::*;
use torrent_core::bsv::block::{Block, BlockDecoder, BlockLimits};
use torrent_core::bsv::hash::sha256d;
use torrent_core::bsv::merkle::{self, MerkleRootBuilder, MerkleTree, tree_height};
use torrent_core::bsv::tx::{Transaction, TxLimits};
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};
use torrent_core::{BlockHash, Header, Satoshis, Txid};

/// Distinct pseudo-random txids (hashes of their seed and index, so never equal).
fn txids(n: usize, seed: u64) -> Vec<Txid> {
    (0..n as u64)
        .map(|i| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&seed.to_le_bytes());
            b[8..].copy_from_slice(&i.to_le_bytes());
            Txid::from_byte_array(sha256d(&b))
        })
        .collect()
}

fn header_for(tree: &MerkleTree) -> Header {
    Header {
        version: 1,
        prev_blockhash: BlockHash::default(),
        merkle_root: tree.root(),
        time: 0,
        bits: 0x207f_ffff,
        nonce: 0,
    }
}

/// A tx count with another tree height than `n` (or one that excludes `index`).
fn wrong_count(n: u64, index: u64) -> u64 {
    let h = tree_height(n);
    if h >= 2 && index < 1 << (h - 1) {
        1 << (h - 1)
    } else {
        (1 << h) + 1
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_leaf_of_a_random_tree_proves(n in 1usize..5000, seed: u64) {
        let ids = txids(n, seed);
        let tree = MerkleTree::from_txids(&ids).unwrap();
        let header = header_for(&tree);
        let count = n as u64;
        for (i, t) in ids.iter().enumerate() {
            let i = i as u64;
            let bump = Bump::build(&tree, 42, &[i]).unwrap();
            prop_assert_eq!(bump.verify(t, 42, count, &tree.root()).unwrap(), i);
            let kind = [TargetKind::BlockHash, TargetKind::Header, TargetKind::MerkleRoot][(i % 3) as usize];
            let tsc = TscProof::build(&tree, i, &header, kind, None).unwrap();
            prop_assert_eq!(tsc.verify(&header, count).unwrap(), *t);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proofs_of_random_picks_round_trip_and_compound(n in 1usize..5000, seed: u64, picks in prop::collection::vec(any::<prop::sample::Index>(), 1..8)) {
        let ids = txids(n, seed);
        let tree = MerkleTree::from_txids(&ids).unwrap();
        prop_assert_eq!(merkle::root(&ids).unwrap(), tree.root());
        let header = header_for(&tree);
        let count = n as u64;
        let indices: Vec<u64> = picks.iter().map(|p| p.index(n) as u64).collect();
        for &i in &indices {
            let t = ids[i as usize];
            let bump = Bump::build(&tree, 42, &[i]).unwrap();
            prop_assert_eq!(bump.verify(&t, 42, count, &tree.root()).unwrap(), i);
            prop_assert_eq!(Bump::decode(&bump.encode()).unwrap(), bump.clone());
            for kind in [TargetKind::BlockHash, TargetKind::Header, TargetKind::MerkleRoot] {
                let tsc = TscProof::build(&tree, i, &header, kind, None).unwrap();
                prop_assert_eq!(tsc.verify(&header, count).unwrap(), t);
            }
        }
        // One compound path for all picks, trimmed, verifying each txid.
        let compound = Bump::build(&tree, 42, &indices).unwrap();
        let mut uniq = indices.clone();
        uniq.sort_unstable();
        uniq.dedup();
        prop_assert_eq!(compound.verify_all(42, count, &tree.root()).unwrap(), uniq.len());
    }

    #[test]
    fn damaged_proofs_fail_with_an_error(n in 2usize..5000, seed: u64, pick: prop::sample::Index, flip: prop::sample::Index, bit in 0u8..8) {
        let ids = txids(n, seed);
        let tree = MerkleTree::from_txids(&ids).unwrap();
        let header = header_for(&tree);
        let count = n as u64;
        let i = pick.index(n) as u64;
        let t = ids[i as usize];
        let root = tree.root();

        let bump = Bump::build(&tree, 42, &[i]).unwrap();
        let bin = bump.encode();
        // A flipped bit: refused at decode or verify, unless it only turned a level-0
        // sibling into a flagged txid, which is a true compound proof.
        let mut b = bin.clone();
        let at = flip.index(b.len());
        b[at] ^= 1 << bit;
        if let Ok(p) = Bump::decode(&b)
            && p.verify(&t, 42, count, &root).is_ok() {
                for (index, txid) in p.txids() {
                    prop_assert_eq!(ids[index as usize], txid);
                }
            }
        // Wrong index (another txid), wrong tx count, truncated input.
        let other = ids[(i as usize + 1) % n];
        prop_assert!(bump.verify(&other, 42, count, &root).is_err());
        prop_assert!(bump.verify(&t, 42, wrong_count(count, i), &root).is_err());
        prop_assert!(Bump::decode(&bin[..flip.index(bin.len())]).is_err());

        let tsc = TscProof::build(&tree, i, &header, TargetKind::MerkleRoot, None).unwrap();
        let tbin = tsc.encode();
        let mut b = tbin.clone();
        let at = flip.index(b.len());
        b[at] ^= 1 << bit;
        if let Ok(p) = TscProof::decode(&b) {
            prop_assert!(p.verify(&header, count).is_err(), "TSC flip at {} survived", at);
        }
        let mut wrong_index = tsc.clone();
        wrong_index.index = (i + 1) % count;
        prop_assert!(wrong_index.verify(&header, count).is_err());
        prop_assert!(tsc.verify(&header, wrong_count(count, i)).is_err());
        prop_assert!(TscProof::decode(&tbin[..flip.index(tbin.len())]).is_err());
    }

    #[test]
    fn streaming_root_matches_tree(n in 1usize..3000, seed: u64) {
        let ids = txids(n, seed);
        let mut b = MerkleRootBuilder::new();
        for t in &ids {
            b.push(*t).unwrap();
        }
        prop_assert_eq!(b.finish().unwrap(), MerkleTree::from_txids(&ids).unwrap().root());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600), split: prop::sample::Index) {
        let _ = Bump::decode(&data);
        let _ = TscProof::decode(&data);
        let _ = Transaction::decode(&data, &TxLimits::default());
        let _ = Block::decode(&data, &BlockLimits::default());
        let _ = Header::decode(&data);
        let mut dec = BlockDecoder::new(BlockLimits::default());
        let (a, b) = data.split_at(split.index(data.len() + 1));
        for mut chunk in [a, b] {
            while let Ok(Some(_)) = dec.decode(&mut chunk) {}
        }
        let _ = dec.finish();
        let _ = torrent_core::bsv::blk::BlkFrames::new(&data, [0xf9, 0xbe, 0xb4, 0xd9]).count();
        if let Ok(s) = core::str::from_utf8(&data) {
            let _ = Bump::from_json(s);
            let _ = TscProof::from_json(s);
        }
    }

    #[test]
    fn json_decoders_never_panic_on_json_shaped_text(s in r#"\{"(blockHeight|index|path|txOrId|target|targetType|nodes)":[\[\]\{\}0-9a-f",:*]{0,200}\}"#) {
        let _ = Bump::from_json(&s);
        let _ = TscProof::from_json(&s);
    }

    #[test]
    fn bump_shaped_bytes_never_panic(height in 0u64..1000, levels in 1u8..70, body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut data = vec![height as u8, levels];
        data.extend_from_slice(&body);
        if let Ok(b) = Bump::decode(&data) {
            prop_assert_eq!(Bump::decode(&b.encode()).unwrap(), b.clone());
            let t = Txid::default();
            let _ = b.compute_root(&t);
            for n in [1u64, 2, 3, 1000, u64::MAX] {
                let _ = b.verify(&t, 0, n, &Default::default());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn tracker_parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..200), text in ".{0,200}") {
        use core::net::{IpAddr, Ipv4Addr, SocketAddr};
        use torrent_core::tracker::{http, udp};
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
        let _ = udp::parse(&data, src);
        let _ = http::parse_announce(&text, src.ip(), None);
        let _ = http::parse_scrape(&text);
        let _ = udp::passkey_from_url_data(&text);
        let _ = torrent_core::bsv::bsm::recover(&data, &text);
        let _ = torrent_core::bsv::keys::Address::parse(&text);
        let _ = torrent_core::bsv::keys::PrivateKey::from_wif(&text);
        let _ = torrent_core::bencode::decode(&data, &Default::default());
        let _ = torrent_core::metainfo::Metainfo::parse(&data, &Default::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any sequence of announces keeps the swarm's books straight: counts add up, caps hold,
    /// nobody is told about itself, seeders are not sent seeders, and expiry empties it.
    #[test]
    fn swarm_bookkeeping_holds_under_any_announce_sequence(
        ops in prop::collection::vec((0u8..40, 0u8..3, any::<bool>(), 0u8..4, 0u64..200), 1..400),
    ) {
        use core::net::{IpAddr, Ipv4Addr, SocketAddr};
        use torrent_core::metainfo::InfoHashV1;
        use torrent_core::time::UnixMillis;
        use torrent_core::tracker::swarm::{Announce, Event, SwarmConfig, Swarms};
        let cfg = SwarmConfig { max_peers_per_swarm: 25, max_peers_total: 60, max_numwant: 30, ..SwarmConfig::default() };
        let mut s = Swarms::new(cfg);
        let mut t = 1_000u64;
        for (peer, swarm, seeder, ev, dt) in ops {
            t += dt;
            let a = Announce {
                info_hash: InfoHashV1([swarm; 20]),
                peer_id: [peer; 20],
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, swarm, peer)), 1000 + u16::from(peer)),
                event: [Event::Started, Event::None, Event::Completed, Event::Stopped][ev as usize],
                left: if seeder { 0 } else { 100 },
                uploaded: 0,
                downloaded: 0,
                numwant: Some(1000),
                account: seeder.then_some(u64::from(peer)),
            };
            let r = s.announce(UnixMillis::from_secs(t), &a, t.wrapping_mul(2_654_435_761));
            prop_assert!(r.peers.len() <= 30);
            prop_assert!(!r.peers.contains(&a.addr), "told about itself");
            let total: u32 = (0..3u8).map(|h| { let st = s.scrape(&InfoHashV1([h; 20])); st.complete + st.incomplete }).sum();
            prop_assert_eq!(total as usize, s.peer_count());
            prop_assert!(s.peer_count() <= 60);
            for h in 0..3u8 {
                let st = s.scrape(&InfoHashV1([h; 20]));
                prop_assert!(st.complete + st.incomplete <= 25);
            }
            if seeder && a.event != Event::Stopped {
                let st = s.scrape(&a.info_hash);
                prop_assert!(r.peers.len() <= st.incomplete as usize, "a seeder got seeders");
            }
        }
        s.expire(UnixMillis::from_secs(t + 100_000));
        prop_assert_eq!(s.peer_count(), 0);
    }

    /// Proof rewards, for any interleaving of requests (txids of a few blocks, from seeders'
    /// own addresses or not) over several windows: each (txid, window) is paid at most once,
    /// no block earns more than `per_block` in a window, an own request never earns, and a
    /// block planned for local service earns nothing more in that window.
    #[test]
    fn proof_rewards_pay_each_txid_once_per_window_and_each_block_a_bounded_number(
        ops in prop::collection::vec((0u8..40, any::<bool>(), 0u64..7_200_000), 1..500),
    ) {
        use std::collections::BTreeMap;
        use torrent_core::rewards::{Plan, ProofRewardConfig, ProofRewards};
        let cfg = ProofRewardConfig { window: core::time::Duration::from_secs(3600), per_block: 4 };
        let mut r = ProofRewards::default();
        let mut now = 1_700_000_000_000u64;
        let mut paid: BTreeMap<(u8, u64), u32> = BTreeMap::new();
        let mut per_block: BTreeMap<(u64, u64), u32> = BTreeMap::new();
        for (tx, own, dt) in ops {
            now += dt;
            let height = u64::from(tx % 5);
            let local = r.plan(height, now, &cfg) == Plan::ServeLocally;
            let got = r.earn([tx; 32], height, own, now, &cfg);
            if let Ok(w) = got {
                prop_assert!(!own, "an own request earned");
                prop_assert!(!local, "a block served locally earned");
                prop_assert_eq!(w, ProofRewards::window_of(now, &cfg));
                *paid.entry((tx, w)).or_default() += 1;
                *per_block.entry((height, w)).or_default() += 1;
            }
        }
        prop_assert!(paid.values().all(|n| *n == 1), "{:?}", paid);
        prop_assert!(per_block.values().all(|n| *n <= 4), "{:?}", per_block);
    }

    /// Budgets, for any sequence of rewards to any seeders over several days: what is
    /// admitted in a UTC day never exceeds the daily cap, nor any seeder's cap.
    #[test]
    fn admitted_rewards_stay_within_the_daily_budgets(
        ops in prop::collection::vec((0u64..5, 0u64..400, 0u64..20_000_000), 1..400),
        per_day in 0u64..3000,
        per_seeder in 0u64..1000,
    ) {
        use std::collections::BTreeMap;
        use torrent_core::rewards::{Budget, BudgetConfig};
        let cfg = BudgetConfig {
            per_day: Satoshis(per_day),
            per_seeder_per_day: Satoshis(per_seeder),
        };
        let mut b = Budget::default();
        let mut now = 1_700_000_000_000u64;
        let mut day_total: BTreeMap<u64, u64> = BTreeMap::new();
        let mut seeder_total: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        for (seeder, amount, dt) in ops {
            now += dt;
            if b.admit(seeder, Satoshis(amount), now, &cfg).is_ok() {
                let day = now / 86_400_000;
                *day_total.entry(day).or_default() += amount;
                *seeder_total.entry((day, seeder)).or_default() += amount;
            }
        }
        if per_day > 0 {
            prop_assert!(day_total.values().all(|t| *t <= per_day));
        }
        if per_seeder > 0 {
            prop_assert!(seeder_total.values().all(|t| *t <= per_seeder));
        }
    }

    /// The rules together, as the host composes them, for any interleaving of proof
    /// requests (txids of a few blocks, from seeders' own addresses or not), audits (any
    /// seeder, any bytes, planned or not) and time passing over several days: what the
    /// ledger credits in a UTC day stays within the budgets, each (txid, window) is
    /// credited at most once, each (seeder, bundle) at most one audit per audit window,
    /// and the ledger still balances.
    #[test]
    fn rewards_stay_within_budgets_and_are_paid_once_under_any_interleaving(
        ops in prop::collection::vec(
            (0u8..3, 0u8..30, any::<bool>(), 0u64..5, 0u64..3_000_000, 0u64..10_000_000),
            1..300,
        ),
    ) {
        use core::net::{IpAddr, Ipv4Addr, SocketAddr};
        use std::collections::BTreeMap;
        use torrent_core::audit;
        use torrent_core::incentive::{Event, Ledger, Rules};
        use torrent_core::rewards::{BudgetConfig, Budget, ProofRewardConfig, ProofRewards};
        use torrent_core::time::UnixMillis;
        let rules = Rules::DEFAULT;
        let budget_cfg = BudgetConfig { per_day: Satoshis(2_000), per_seeder_per_day: Satoshis(700) };
        let reward_cfg = ProofRewardConfig { window: core::time::Duration::from_secs(86_400), per_block: 5 };
        let interval = core::time::Duration::from_secs(600);
        let (mut ledger, mut budget, mut proofs) = (Ledger::new(), Budget::default(), ProofRewards::default());
        let mut last_audit: BTreeMap<u64, UnixMillis> = BTreeMap::new();
        let mut credited_day: BTreeMap<u64, u64> = BTreeMap::new();
        let mut credited_seeder: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        let mut paid_txid: BTreeMap<(u8, u64), u32> = BTreeMap::new();
        let mut audits: BTreeMap<(u64, u64), u32> = BTreeMap::new();
        let mut now = 1_700_000_000_000u64;
        let mut id = 0u64;
        for (kind, tx, own, seeder, bytes, dt) in ops {
            now += dt;
            id += 1;
            let event = match kind {
                // A verified seeder answer for txid `tx` of block `tx % 4`.
                0 | 1 => match proofs.earn([tx; 32], u64::from(tx % 4), own, now, &reward_cfg) {
                    Ok(w) => {
                        *paid_txid.entry((tx, w)).or_default() += 1;
                        Some(Event::ProofServed { seeder, served_ms: bytes % 900, active_seeders: 1 })
                    }
                    Err(_) => None,
                },
                // An audit round: the planner decides; the seeder announces 3 peer ids.
                _ => {
                    let peers: Vec<(u64, SocketAddr)> = (0..3u16)
                        .map(|p| (seeder, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6881 + p)))
                        .collect();
                    let plan = audit::plan(&peers, |_| true, |a| last_audit.get(&a).copied(), interval, UnixMillis(now), id);
                    prop_assert!(plan.len() <= 1);
                    plan.first().map(|_| {
                        last_audit.insert(seeder, UnixMillis(now));
                        *audits.entry((seeder, audit::window(UnixMillis(now), interval))).or_default() += 1;
                        Event::Bulk { seeder, bytes }
                    })
                }
            };
            let Some(event) = event else { continue };
            let amount = rules.reward_of(&event, &ledger.account(seeder)).unwrap().unwrap_or_default();
            if budget.admit(seeder, amount, now, &budget_cfg).is_err() {
                continue;
            }
            let before = ledger.account(seeder).earned;
            ledger.apply(id, &event, &rules).unwrap();
            let got = ledger.account(seeder).earned.checked_sub(before).unwrap();
            prop_assert_eq!(got, amount, "the budget admitted what the ledger credits");
            let day = now / 86_400_000;
            *credited_day.entry(day).or_default() += got.to_sat();
            *credited_seeder.entry((day, seeder)).or_default() += got.to_sat();
        }
        prop_assert!(credited_day.values().all(|t| *t <= 2_000), "{:?}", credited_day);
        prop_assert!(credited_seeder.values().all(|t| *t <= 700), "{:?}", credited_seeder);
        prop_assert!(paid_txid.values().all(|n| *n == 1), "{:?}", paid_txid);
        prop_assert!(audits.values().all(|n| *n == 1), "{:?}", audits);
        prop_assert_eq!(ledger.accounted().unwrap(), ledger.credited);
    }

    /// Strangers reusing peer ids from other IPs change nothing of the honest peers (their
    /// entries, accounts and addresses are those of a tracker that never saw the strangers),
    /// and `downloaded` never exceeds the number of distinct (peer id, IP) that completed.
    #[test]
    fn strangers_reusing_peer_ids_change_nothing_and_completions_count_once(
        ops in prop::collection::vec((0u8..6, any::<bool>(), any::<bool>(), 0u8..4), 1..300),
    ) {
        use core::net::{IpAddr, Ipv4Addr, SocketAddr};
        use std::collections::BTreeSet;
        use torrent_core::metainfo::InfoHashV1;
        use torrent_core::time::UnixMillis;
        use torrent_core::tracker::swarm::{Announce, Event, SwarmConfig, Swarms};
        let ih = InfoHashV1([7; 20]);
        let mut attacked = Swarms::new(SwarmConfig::default());
        let mut honest = Swarms::new(SwarmConfig::default());
        let mut completers = BTreeSet::new();
        for (i, (peer, stranger, seeder, ev)) in ops.into_iter().enumerate() {
            let now = UnixMillis::from_secs(1_000 + i as u64);
            let ip = if stranger { Ipv4Addr::new(192, 0, 2, peer) } else { Ipv4Addr::new(10, 0, 0, peer) };
            let a = Announce {
                info_hash: ih,
                peer_id: [peer; 20],
                addr: SocketAddr::new(IpAddr::V4(ip), 6881),
                event: [Event::Started, Event::None, Event::Completed, Event::Stopped][ev as usize],
                left: if seeder { 0 } else { 100 },
                uploaded: 0,
                downloaded: 0,
                numwant: Some(0),
                account: (!stranger && seeder).then_some(u64::from(peer)),
            };
            if a.event != Event::Stopped && (a.event == Event::Completed || seeder) {
                completers.insert((peer, stranger));
            }
            attacked.announce(now, &a, 1);
            if !stranger {
                honest.announce(now, &a, 1);
            }
            prop_assert_eq!(attacked.authenticated_seed_peers(&ih), honest.authenticated_seed_peers(&ih));
            for p in 0..6u8 {
                let home = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, p)), 6881);
                prop_assert_eq!(attacked.has_peer(&ih, &[p; 20], &home), honest.has_peer(&ih, &[p; 20], &home));
            }
            prop_assert!(attacked.scrape(&ih).downloaded as usize <= completers.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Proofs built from cached upper levels plus one chunk of txids are byte-identical to
    /// proofs built from the whole tree, for every leaf, every chunk size and tree size.
    #[test]
    fn upper_tree_paths_build_the_same_proofs(n in 1usize..3000, k in 0u32..9, seed in any::<u64>()) {
        let ids = txids(n, seed);
        let tree = MerkleTree::from_txids(&ids).unwrap();
        let mut b = merkle::UpperTreeBuilder::new(k);
        for t in &ids {
            b.push(*t).unwrap();
        }
        let upper = b.finish().unwrap();
        prop_assert_eq!(upper.root(), tree.root());
        prop_assert_eq!(upper.tx_count(), n as u64);
        let header = header_for(&tree);
        let step = (n / 64).max(1);
        for i in (0..n).step_by(step).chain([n - 1]) {
            let (first, len) = upper.chunk_of(i as u64);
            let chunk = &ids[first as usize..(first + len) as usize];
            let view = upper.path(i as u64, chunk).unwrap();
            let want = Bump::build(&tree, 7, &[i as u64]).unwrap();
            prop_assert_eq!(Bump::build(&view, 7, &[i as u64]).unwrap(), want);
            let want = TscProof::build(&tree, i as u64, &header, TargetKind::Header, None).unwrap();
            prop_assert_eq!(
                TscProof::build(&view, i as u64, &header, TargetKind::Header, None).unwrap(),
                want
            );
            // A damaged chunk is caught, not turned into a proof.
            let mut bad = chunk.to_vec();
            let j = (i - first as usize) ^ 1;
            if j < bad.len() {
                bad[j] = Txid::from_byte_array([0xab; 32]);
                prop_assert!(upper.path(i as u64, &bad).is_err());
            }
            prop_assert!(upper.path(i as u64, &chunk[..chunk.len() - 1]).is_err());
        }
    }
}

/// A random ledger event over 4 seeders and a few payout ids.
fn ledger_event() -> impl Strategy<Value = torrent_core::incentive::Event> {
    use torrent_core::incentive::{Event, SlashReason};
    prop_oneof![
        (0u64..4, 0u64..300_000).prop_map(|(seeder, amount)| Event::Stake {
            seeder,
            amount: Satoshis(amount)
        }),
        (0u64..4, 0u64..1000, 0u32..6).prop_map(|(seeder, served_ms, active_seeders)| {
            Event::ProofServed {
                seeder,
                served_ms,
                active_seeders,
            }
        }),
        (0u64..4, 0u64..5_000_000).prop_map(|(seeder, bytes)| Event::Bulk { seeder, bytes }),
        (0u64..4, any::<bool>()).prop_map(|(seeder, b)| Event::Slash {
            seeder,
            reason: if b {
                SlashReason::InvalidProof
            } else {
                SlashReason::FailedAudit
            },
        }),
        (
            0u64..6,
            proptest::collection::vec((0u64..4, 0u64..2000), 0..4)
        )
            .prop_map(|(payout, outputs)| Event::PayoutCreated {
                payout,
                outputs: outputs.into_iter().map(|(s, v)| (s, Satoshis(v))).collect(),
            }),
        (0u64..6).prop_map(|payout| Event::PayoutConfirmed { payout }),
        (0u64..6).prop_map(|payout| Event::PayoutAbandoned { payout }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Credited = balances + stakes + pending + paid + slashed after every event; a refused
    /// event changes nothing; replaying any earlier event id changes nothing.
    #[test]
    fn the_ledger_never_creates_or_loses_a_satoshi(events in proptest::collection::vec(ledger_event(), 1..80)) {
        use torrent_core::incentive::{Applied, Ledger, Rules};
        let rules = Rules::DEFAULT;
        let mut l = Ledger::new();
        let mut applied = Vec::new();
        for (id, e) in events.iter().enumerate() {
            let before = l.clone();
            match l.apply(id as u64, e, &rules) {
                Ok(Applied::Done(moved)) => {
                    // What apply reports is what changed: rewards and stakes in, slashes out.
                    let sum = |l: &Ledger, f: fn(&torrent_core::incentive::Account) -> Satoshis| {
                        l.accounts().map(|(_, a)| f(a)).sum::<Satoshis>()
                    };
                    let earned = sum(&l, |a| a.earned).checked_sub(sum(&before, |a| a.earned));
                    let slashed = sum(&l, |a| a.slashed).checked_sub(sum(&before, |a| a.slashed));
                    prop_assert_eq!(Some(moved.slashed), slashed);
                    prop_assert_eq!(Some(moved.credited), l.credited.checked_sub(before.credited));
                    let earned = earned.unwrap_or_default();
                    prop_assert!(moved.credited >= earned);
                    applied.push(id);
                }
                Ok(Applied::Duplicate) => prop_assert!(false, "a new id was taken for a duplicate"),
                Err(_) => prop_assert_eq!(&l, &before, "a refused event changed the ledger"),
            }
            prop_assert_eq!(l.accounted(), Some(l.credited));
            if let Some(&replay) = applied.get(id / 2) {
                let snapshot = l.clone();
                prop_assert_eq!(l.apply(replay as u64, &events[replay], &rules), Ok(Applied::Duplicate));
                prop_assert_eq!(&l, &snapshot);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A txid index run finds every transaction of its blocks where it is (duplicated txids
    /// in every block they appear in), whatever the blocks' sizes, and runs built from any
    /// split of the blocks merge into the bytes of the run built at once (ADR 0003).
    #[test]
    fn txid_runs_find_everything_and_merge_to_the_same_bytes(
        counts in prop::collection::vec(0u32..200, 1..12),
        dups in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..4),
        split in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        use torrent_core::txindex::{self, Blocks, Directory, Header, RunBlock, RunWriter};
        let blocks = Blocks::new(
            counts.iter().enumerate().map(|(i, c)| RunBlock { height: 1000 + 3 * i as u64, tx_count: *c }).collect(),
        ).unwrap();
        let total = blocks.total() as usize;
        let mut txids: Vec<[u8; 32]> = (0..total).map(|o| sha256d(&[seed.to_le_bytes(), (o as u64).to_le_bytes()].concat())).collect();
        if total > 0 {
            for (a, b) in &dups {
                let (a, b) = (a.index(total), b.index(total));
                txids[b] = txids[a];
            }
        }
        let entries = |t: &Blocks, of: &dyn Fn(u32) -> [u8; 32]| -> Vec<(u64, u32)> {
            (0..t.total() as u32).map(|o| (txindex::key_of(&of(o)), o)).collect()
        };
        let whole = txindex::encode(&blocks, entries(&blocks, &|o| txids[o as usize])).unwrap();
        let h = Header::decode(&whole, whole.len() as u64).unwrap();
        let dir = Directory::decode(&h, &whole[h.directory_offset() as usize..]).unwrap();
        let e0 = h.entries_offset() as usize;
        for (o, t) in txids.iter().enumerate() {
            let r = dir.bucket(t);
            let bucket = &whole[e0 + r.start as usize * txindex::ENTRY_LEN..e0 + r.end as usize * txindex::ENTRY_LEN];
            let found: Vec<u32> = txindex::candidates(bucket, t).collect();
            let want: Vec<u32> = (0..total as u32).filter(|p| txids[*p as usize] == *t).collect();
            prop_assert!(want.iter().all(|w| found.contains(w)), "ordinal {} of {:?}: found {:?}", o, want, found);
        }
        // Split the blocks in two runs, build each alone, merge.
        let at = split.index(counts.len() + 1);
        let (lo, hi) = blocks.blocks().split_at(at);
        let mut inputs = Vec::new();
        for part in [hi, lo] {
            let t = Blocks::new(part.to_vec()).unwrap();
            let bytes = txindex::encode(&t, entries(&t, &|o| {
                let (height, i) = t.locate(o).unwrap();
                txids[blocks.ordinal(height, i).unwrap() as usize]
            })).unwrap();
            let h = Header::decode(&bytes, bytes.len() as u64).unwrap();
            let list: Vec<(u64, u32)> = txindex::decode_entries(&bytes[h.entries_offset() as usize..h.directory_offset() as usize]).collect();
            inputs.push((t, list.into_iter()));
        }
        let (union, merged) = txindex::merge(inputs).unwrap();
        let (mut w, mut out) = RunWriter::new(&union, merged.len() as u64).unwrap();
        for (k, o) in merged {
            out.extend_from_slice(&w.push(k, o).unwrap());
        }
        out.extend_from_slice(&w.finish().unwrap());
        prop_assert_eq!(out, whole);
    }

    /// A damaged run (bytes changed, the file cut short): a typed error, or a run whose
    /// lookups stay inside its entries.
    #[test]
    fn damaged_txid_runs_never_panic(
        n in 0u32..300,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        txid in any::<[u8; 32]>(),
    ) {
        use torrent_core::txindex::{self, Blocks, Directory, Header, RunBlock};
        let blocks = Blocks::new(vec![RunBlock { height: 7, tx_count: n }]).unwrap();
        let entries = (0..n).map(|o| (txindex::key_of(&sha256d(&o.to_le_bytes())), o)).collect();
        let mut bytes = txindex::encode(&blocks, entries).unwrap();
        for (at, v) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= v;
        }
        if flips.len() % 2 == 1 {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if let Ok(h) = Header::decode(&bytes, bytes.len() as u64) {
            let table = &bytes[h.blocks_offset() as usize..h.entries_offset() as usize];
            let _ = txindex::decode_blocks(&h, table);
            if let Ok(dir) = Directory::decode(&h, &bytes[h.directory_offset() as usize..]) {
                let r = dir.bucket(&txid);
                prop_assert!(r.start <= r.end && r.end <= h.entries);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// An atomic BEEF of a mined transaction decodes to what it was built from, with the
    /// transaction as subject and its BUMP proving it; a BUMP of another block is refused.
    #[test]
    fn atomic_beefs_of_proven_transactions_round_trip(n in 1usize..300, pick: prop::sample::Index, seed: u64, script in prop::collection::vec(any::<u8>(), 0..200)) {
        use torrent_core::bsv::beef::{Beef, BeefError};
        use torrent_core::bsv::tx::{OutPoint, TxIn, TxOut};
        let tx = Transaction {
            version: 1,
            inputs: vec![TxIn {
                prevout: OutPoint { txid: txids(1, seed)[0], vout: 3 },
                script_sig: script.clone(),
                sequence: u32::MAX,
            }],
            outputs: vec![TxOut { value: Satoshis(seed % 1_000_000), script_pubkey: script }],
            lock_time: 0,
        };
        let raw = tx.encode();
        let mut ids = txids(n, seed.wrapping_add(1));
        let at = pick.index(n);
        ids[at] = tx.txid();
        let tree = MerkleTree::from_txids(&ids).unwrap();
        let bump = Bump::build(&tree, 42, &[at as u64]).unwrap();
        let beef = Beef::proven(&raw, bump.clone()).unwrap();
        let bytes = beef.encode();
        prop_assert_eq!(&bytes[..4], &[1u8, 1, 1, 1][..]);
        let back = Beef::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &beef);
        let subject = back.subject_tx().unwrap();
        prop_assert_eq!(subject.txid, tx.txid());
        let proof = &back.bumps[subject.bump.unwrap()];
        prop_assert_eq!(proof.compute_root(&subject.txid).unwrap(), tree.root());
        // Without the atomic subject, and with a txid-only entry (V2), it reads back too.
        let mut v2 = beef.clone();
        v2.subject = None;
        v2.txs.insert(0, torrent_core::bsv::beef::BeefTx { txid: ids[0], raw: None, bump: None });
        prop_assert_eq!(Beef::decode(&v2.encode()).unwrap(), v2);
        // A BUMP that does not hold the transaction proves nothing.
        let other = MerkleTree::from_txids(&txids(n, seed.wrapping_add(2))).unwrap();
        let unrelated = Bump::build(&other, 42, &[0]).unwrap();
        prop_assert!(matches!(Beef::proven(&raw, unrelated), Err(BeefError::Unproven(_))));
    }
}
