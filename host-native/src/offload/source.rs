//! Block sources: where the service reads blocks from (DESIGN §11).
//!
//! - `dir:PATH`: a folder of raw block files (header, tx count, txs). The height is the first
//!   run of digits in the file name (`block-000170.bin`, `000000170.bin`, `170.bin`).
//! - `blk:PATH`: a node's `blk*.dat` file or a folder of them, framed with the network's disk
//!   magic. Blocks sit in arrival order, so heights come from the chain itself: a block whose
//!   `prev` is all zeros is height 0, one whose `prev` is the network's genesis is height 1,
//!   and each child is its parent plus one; with forks, the longest branch wins.
//! - `galaxy`: Galaxy's Block service (50054). Heights, hashes and sizes come from its index
//!   of the best chain; each block is streamed in frames ([`crate::galaxy::RemoteBlock`]),
//!   and pruning asks the service to drop the block's data.
//! - `rest:URL`: a node's REST interface (SV Node's `-rest`, or another `torrent_service`
//!   serving its archive): the chain is walked header by header, and each block streamed
//!   ([`crate::offload::rest`]); pruning records the height (a REST interface deletes
//!   nothing).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use torrent_core::bsv::blk::parse_frame_header;
use torrent_core::{BlockHash, Header, Network};

use crate::galaxy::{BlockRequest, BlockResponse, GalaxyClient, RemoteBlock};
use crate::offload::rest::RestClient;

/// A parsed `block_source` / `--source` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Folder of raw block files.
    Dir(PathBuf),
    /// A blk file or a folder of them.
    Blk(PathBuf),
    /// An SV Node REST interface.
    Rest(String),
    /// Galaxy's Block service.
    Galaxy,
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Dir(p) => write!(f, "dir:{}", p.display()),
            SourceSpec::Blk(p) => write!(f, "blk:{}", p.display()),
            SourceSpec::Rest(u) => write!(f, "rest:{u}"),
            SourceSpec::Galaxy => f.write_str("galaxy"),
        }
    }
}

fn is_blk_name(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("blk") && n.ends_with(".dat"))
}

fn looks_like_blk_file(p: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && Network::ALL.iter().any(|n| n.disk_magic() == magic)
}

impl FromStr for SourceSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(p) = s.strip_prefix("dir:") {
            return Ok(SourceSpec::Dir(PathBuf::from(p)));
        }
        if let Some(p) = s.strip_prefix("blk:") {
            return Ok(SourceSpec::Blk(PathBuf::from(p)));
        }
        if let Some(u) = s.strip_prefix("rest:") {
            return Ok(SourceSpec::Rest(u.to_string()));
        }
        if s == "galaxy" {
            return Ok(SourceSpec::Galaxy);
        }
        let p = PathBuf::from(s);
        if p.is_file() {
            return Ok(if looks_like_blk_file(&p) {
                SourceSpec::Blk(p)
            } else {
                SourceSpec::Dir(p)
            });
        }
        if p.is_dir() {
            let has_blk = std::fs::read_dir(&p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok())
                .any(|e| is_blk_name(&e.path()));
            return Ok(if has_blk {
                SourceSpec::Blk(p)
            } else {
                SourceSpec::Dir(p)
            });
        }
        bail!(
            "block source {s:?}: no such file or directory (use dir:PATH, blk:PATH, rest:URL or galaxy)"
        )
    }
}

/// Where one block's bytes are: a byte range of a local file, or (Galaxy) the block's hash
/// as the Block service indexed it.
#[derive(Debug, Clone)]
struct Location {
    path: PathBuf,
    offset: u64,
    len: u64,
    hash: Option<[u8; 32]>,
}

/// Where a remote source's blocks come from.
#[derive(Debug)]
enum Remote {
    /// Galaxy's Block service.
    Galaxy(GalaxyClient),
    /// A REST interface.
    Rest(RestClient),
}

/// Blocks by height, from a local source, Galaxy's Block service or a REST interface.
#[derive(Debug)]
pub struct BlockSource {
    blocks: BTreeMap<u64, Location>,
    describe: String,
    remote: Option<Remote>,
}

impl BlockSource {
    /// Opens a source; `galaxy` is the Block service client, used when `spec` is `galaxy`.
    ///
    /// # Errors
    /// Unreadable paths, unparseable blk files, an unreachable Block service, or an
    /// unsupported source kind.
    pub fn open(
        spec: &SourceSpec,
        network: Network,
        galaxy: Option<&GalaxyClient>,
    ) -> Result<Self> {
        match spec {
            SourceSpec::Dir(p) => Self::open_dir(p),
            SourceSpec::Blk(p) => Self::open_blk(p, network),
            SourceSpec::Galaxy => match galaxy {
                Some(c) => Self::open_galaxy(c.clone()),
                None => bail!(
                    "block source galaxy needs the Galaxy settings (galaxy_host, galaxy_block_port)"
                ),
            },
            SourceSpec::Rest(url) => Self::open_rest(url, network),
        }
    }

    /// Reads the Block service's index of the best chain, page by page.
    fn open_galaxy(client: GalaxyClient) -> Result<Self> {
        let describe = format!("galaxy:{}", client.addr);
        let tip = match client.call::<_, BlockResponse>(&BlockRequest::Tip)? {
            BlockResponse::Tip { height, .. } => height,
            BlockResponse::Error { message } => bail!("{describe}: {message}"),
            _ => bail!("{describe}: unexpected answer to Tip"),
        };
        let mut blocks = BTreeMap::new();
        let mut from = 0u64;
        loop {
            let (list, next) =
                match client.call::<_, BlockResponse>(&BlockRequest::Index { from, to: tip })? {
                    BlockResponse::Index { blocks, next } => (blocks, next),
                    BlockResponse::Error { message } => bail!("{describe}: {message}"),
                    _ => bail!("{describe}: unexpected answer to Index"),
                };
            let mut last = None;
            for b in list {
                if b.height < from || b.height > tip || last.is_some_and(|l| b.height <= l) {
                    bail!(
                        "{describe}: index answer for {from}..={tip} holds height {} out of order",
                        b.height
                    );
                }
                last = Some(b.height);
                blocks.insert(
                    b.height,
                    Location {
                        path: PathBuf::new(),
                        offset: 0,
                        len: b.size,
                        hash: Some(b.hash),
                    },
                );
            }
            match next {
                // A page must move forward, so a confused service cannot loop us.
                Some(n) if n > from && n <= tip => from = n,
                Some(n) => bail!("{describe}: index paging went from {from} to {n}"),
                None => break,
            }
        }
        tracing::debug!(tip, blocks = blocks.len(), "{describe}: index read");
        Ok(Self {
            blocks,
            describe,
            remote: Some(Remote::Galaxy(client)),
        })
    }

    /// Walks a REST interface's chain (sizes come with each block).
    fn open_rest(url: &str, network: Network) -> Result<Self> {
        let client = RestClient::new(url);
        let describe = format!("rest:{}", client.base());
        let blocks = client
            .chain(network)
            .with_context(|| format!("reading the chain of {describe}"))?
            .into_iter()
            .map(|(height, hash)| {
                (
                    height,
                    Location {
                        path: PathBuf::new(),
                        offset: 0,
                        len: 0,
                        hash: Some(hash.to_byte_array()),
                    },
                )
            })
            .collect();
        Ok(Self {
            blocks,
            describe,
            remote: Some(Remote::Rest(client)),
        })
    }

    /// Whether blocks come over the network (then the bundle writer keeps the bytes it
    /// streams instead of fetching the block a second time).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    fn open_dir(dir: &Path) -> Result<Self> {
        let mut blocks = BTreeMap::new();
        let entries: Vec<PathBuf> = if dir.is_file() {
            vec![dir.to_path_buf()]
        } else {
            std::fs::read_dir(dir)
                .with_context(|| format!("reading block directory {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        };
        for path in entries {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".part") || name.starts_with('.') {
                continue;
            }
            let digits: String = name
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(height) = digits.parse::<u64>() else {
                continue;
            };
            let len = path.metadata()?.len();
            if let Some(prev) = blocks.insert(
                height,
                Location {
                    path: path.clone(),
                    offset: 0,
                    len,
                    hash: None,
                },
            ) {
                bail!(
                    "two files for height {height}: {} and {}",
                    prev.path.display(),
                    path.display()
                );
            }
        }
        Ok(Self {
            blocks,
            describe: format!("dir:{}", dir.display()),
            remote: None,
        })
    }

    fn open_blk(path: &Path, network: Network) -> Result<Self> {
        let mut files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_blk_name(p))
                .collect()
        } else {
            vec![path.to_path_buf()]
        };
        files.sort();
        let magic = network.disk_magic();
        // hash -> (header, location)
        let mut found: HashMap<BlockHash, (Header, Location)> = HashMap::new();
        for file in &files {
            let mut f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
            let size = f.metadata()?.len();
            let mut offset = 0u64;
            while offset + 8 <= size {
                let mut frame = [0u8; 8];
                f.seek(SeekFrom::Start(offset))?;
                f.read_exact(&mut frame)?;
                let Some(len) = parse_frame_header(&frame, offset, magic).with_context(|| {
                    format!("{}: bad frame (is the network {network}?)", file.display())
                })?
                else {
                    break;
                };
                let len = u64::from(len);
                if offset + 8 + len > size {
                    bail!(
                        "{}: block at offset {offset} declares {len} bytes but the file ends first",
                        file.display()
                    );
                }
                let mut hb = [0u8; 80];
                if len < 80 {
                    bail!(
                        "{}: block at offset {offset} is only {len} bytes",
                        file.display()
                    );
                }
                f.read_exact(&mut hb)?;
                let header = Header::from_bytes(&hb);
                found.insert(
                    header.block_hash(),
                    (
                        header,
                        Location {
                            path: file.clone(),
                            offset: offset + 8,
                            len,
                            hash: None,
                        },
                    ),
                );
                offset += 8 + len;
            }
        }
        // Children by parent, then the longest branch from the anchor.
        let mut children: HashMap<BlockHash, Vec<BlockHash>> = HashMap::new();
        for (hash, (h, _)) in &found {
            children.entry(h.prev_blockhash).or_default().push(*hash);
        }
        let genesis = network.genesis_hash();
        let (start, start_height) = if found.contains_key(&genesis)
            || children.contains_key(&BlockHash::default())
        {
            (BlockHash::default(), 0u64)
        } else if children.contains_key(&genesis) {
            (genesis, 1u64)
        } else if found.is_empty() {
            (BlockHash::default(), 0)
        } else {
            bail!(
                "{}: cannot place the blocks: none links to the {network} genesis or to a zero hash",
                path.display()
            );
        };
        // Longest path by iterative DFS computing depth bottom-up.
        let mut depth: HashMap<BlockHash, u64> = HashMap::new();
        let mut stack = vec![(start, false)];
        while let Some((node, done)) = stack.pop() {
            let kids = children.get(&node).cloned().unwrap_or_default();
            if done {
                let d = kids
                    .iter()
                    .map(|k| depth.get(k).copied().unwrap_or(0) + 1)
                    .max()
                    .unwrap_or(0);
                depth.insert(node, d);
            } else {
                stack.push((node, true));
                for k in kids {
                    stack.push((k, false));
                }
            }
        }
        let mut blocks = BTreeMap::new();
        let mut node = start;
        let mut height = start_height;
        while let Some(kids) = children.get(&node) {
            let Some(best) = kids
                .iter()
                .max_by_key(|k| (depth.get(*k).copied().unwrap_or(0), std::cmp::Reverse(**k)))
            else {
                break;
            };
            if let Some((_, loc)) = found.get(best) {
                blocks.insert(height, loc.clone());
            }
            node = *best;
            height += 1;
        }
        Ok(Self {
            blocks,
            describe: format!("blk:{}", path.display()),
            remote: None,
        })
    }

    /// Returns the heights available, ascending.
    pub fn heights(&self) -> impl Iterator<Item = u64> + '_ {
        self.blocks.keys().copied()
    }

    /// Returns true if the source has `height`.
    pub fn has(&self, height: u64) -> bool {
        self.blocks.contains_key(&height)
    }

    /// Returns the size of the block at `height`.
    pub fn size(&self, height: u64) -> Option<u64> {
        self.blocks.get(&height).map(|l| l.len)
    }

    /// Opens the block at `height` as a reader of exactly its bytes.
    ///
    /// # Errors
    /// A missing height or an I/O error.
    pub fn open_block(&self, height: u64) -> Result<(Box<dyn Read + Send>, u64, String)> {
        let loc = self
            .blocks
            .get(&height)
            .with_context(|| format!("height {height} is not in {}", self.describe))?;
        match (&self.remote, loc.hash) {
            (Some(Remote::Galaxy(c)), Some(hash)) => {
                let r = RemoteBlock::new(c.clone(), height, hash, loc.len);
                return Ok((Box::new(r), loc.len, self.describe.clone()));
            }
            (Some(Remote::Rest(c)), Some(hash)) => {
                let (r, len) = c.block(&BlockHash::from_byte_array(hash))?;
                return Ok((r, len, self.describe.clone()));
            }
            _ => {}
        }
        let mut f =
            File::open(&loc.path).with_context(|| format!("opening {}", loc.path.display()))?;
        f.seek(SeekFrom::Start(loc.offset))?;
        let what = if loc.offset == 0 {
            loc.path.display().to_string()
        } else {
            format!("{} at offset {}", loc.path.display(), loc.offset)
        };
        Ok((Box::new(f.take(loc.len)), loc.len, what))
    }

    /// Puts the block at `height` of a local source at `dst` (a new file) and syncs it: a hard link when the
    /// source is a whole file on the same filesystem (blocks are immutable, and pruning the
    /// source later leaves the bundle's link), otherwise a kernel-side copy of its byte
    /// range (`copy_file_range` through `std::io::copy`).
    ///
    /// # Errors
    /// A missing height or an I/O error.
    pub fn place_block(&self, height: u64, dst: &Path) -> Result<()> {
        let loc = self
            .blocks
            .get(&height)
            .with_context(|| format!("height {height} is not in {}", self.describe))?;
        let _ = std::fs::remove_file(dst);
        if self.remote.is_some() {
            // A streamed block has no local bytes to place: the bundle writer keeps what it
            // streams (one fetch per block).
            bail!(
                "block {height} comes from {}: it is written as it streams",
                self.describe
            );
        }
        let whole_file =
            loc.offset == 0 && loc.path.metadata().map(|m| m.len()).ok() == Some(loc.len);
        if whole_file && std::fs::hard_link(&loc.path, dst).is_ok() {
            return Ok(());
        }
        let mut src =
            File::open(&loc.path).with_context(|| format!("opening {}", loc.path.display()))?;
        src.seek(SeekFrom::Start(loc.offset))?;
        let mut out = File::create(dst).with_context(|| format!("creating {}", dst.display()))?;
        let copied = std::io::copy(&mut src.take(loc.len), &mut out)?;
        anyhow::ensure!(
            copied == loc.len,
            "{} ended after {copied} of {} bytes",
            loc.path.display(),
            loc.len
        );
        out.sync_all()?;
        Ok(())
    }

    /// Removes the block at `height` from the source, where the source allows it: a `dir`
    /// source deletes the block's file (already gone counts as done, so a resumed prune is
    /// idempotent); a `blk` source never rewrites shared blk files, so it returns `false`
    /// and the caller records the height as pruned instead.
    ///
    /// # Errors
    /// An I/O error other than "not found".
    pub fn remove_block(&self, height: u64) -> Result<bool> {
        if let Some(Remote::Rest(_)) = &self.remote {
            // A REST interface deletes nothing: the height is recorded as pruned.
            return Ok(false);
        }
        if let Some(Remote::Galaxy(c)) = &self.remote {
            // Galaxy: the Block service drops the data; a height no longer indexed is done.
            let Some(hash) = self.blocks.get(&height).and_then(|l| l.hash) else {
                return Ok(true);
            };
            return match c.call::<_, BlockResponse>(&BlockRequest::Prune { height, hash })? {
                BlockResponse::Pruned { height: h } if h == height => Ok(true),
                BlockResponse::Error { message } => {
                    bail!("{}: pruning block {height}: {message}", self.describe)
                }
                _ => bail!("{}: unexpected answer to Prune {height}", self.describe),
            };
        }
        let Some(loc) = self.blocks.get(&height) else {
            return Ok(self.describe.starts_with("dir:"));
        };
        if !self.describe.starts_with("dir:") || loc.offset != 0 {
            return Ok(false);
        }
        match std::fs::remove_file(&loc.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e).with_context(|| format!("deleting {}", loc.path.display())),
        }
    }

    /// Forgets heights (pruned from a `blk` source), so that nothing reads them again.
    pub fn hide(&mut self, heights: &std::collections::BTreeSet<u64>) {
        self.blocks.retain(|h, _| !heights.contains(h));
    }

    /// Returns a short description for messages.
    pub fn describe(&self) -> &str {
        &self.describe
    }
}
