//! A block from Galaxy's Block service as a `Read`: a header frame, chunk frames and an end
//! frame, read with bounded memory and resumed at the byte where a broken stream stopped.

use super::{BlockRequest, BlockResponse, GalaxyClient, read_frame};
use std::io::Read;
use std::net::TcpStream;

/// One block streamed from the Block service, as a reader of exactly its bytes.
///
/// Memory is one chunk. A transport failure mid-stream reconnects and asks again from the
/// byte reached, up to the client's attempts (counted afresh after every chunk that
/// arrives), with doubling backoff; the service's `Begin` must repeat the block's hash and
/// size each time, so a reorganisation between attempts is an error, never a spliced block.
#[derive(Debug)]
pub struct RemoteBlock {
    client: GalaxyClient,
    height: u64,
    hash: [u8; 32],
    size: u64,
    pos: u64,
    stream: Option<TcpStream>,
    chunk: Vec<u8>,
    at: usize,
    failures: u32,
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

impl RemoteBlock {
    /// A reader of the block at `height`, which the index said has `hash` and `size`.
    pub fn new(client: GalaxyClient, height: u64, hash: [u8; 32], size: u64) -> Self {
        Self {
            client,
            height,
            hash,
            size,
            pos: 0,
            stream: None,
            chunk: Vec::new(),
            at: 0,
            failures: 0,
        }
    }

    fn next_chunk(&mut self) -> std::io::Result<()> {
        let max = self.client.max_frame;
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let mut s = self.client.send(&BlockRequest::Block {
                    height: self.height,
                    offset: self.pos,
                })?;
                match read_frame::<BlockResponse>(&mut s, max)? {
                    BlockResponse::Begin { height, hash, size }
                        if height == self.height && hash == self.hash && size == self.size => {}
                    BlockResponse::Begin { .. } => {
                        return Err(invalid(format!(
                            "block {} is no longer the block indexed (reorganised?)",
                            self.height
                        )));
                    }
                    BlockResponse::Error { message } => {
                        return Err(invalid(format!("block {}: {message}", self.height)));
                    }
                    other => {
                        return Err(invalid(format!(
                            "block {}: unexpected answer {}",
                            self.height,
                            variant(&other)
                        )));
                    }
                }
                self.stream.insert(s)
            }
        };
        match read_frame::<BlockResponse>(stream, max)? {
            BlockResponse::Chunk { data }
                if !data.is_empty() && data.len() as u64 <= self.size - self.pos =>
            {
                self.chunk = data;
                self.at = 0;
                Ok(())
            }
            BlockResponse::Chunk { data } => Err(invalid(format!(
                "block {}: a chunk of {} bytes at byte {} of {}",
                self.height,
                data.len(),
                self.pos,
                self.size
            ))),
            BlockResponse::End => Err(invalid(format!(
                "block {} ended at byte {} of {}",
                self.height, self.pos, self.size
            ))),
            BlockResponse::Error { message } => {
                Err(invalid(format!("block {}: {message}", self.height)))
            }
            other => Err(invalid(format!(
                "block {}: unexpected answer {}",
                self.height,
                variant(&other)
            ))),
        }
    }
}

fn variant(r: &BlockResponse) -> &'static str {
    match r {
        BlockResponse::Tip { .. } => "Tip",
        BlockResponse::Index { .. } => "Index",
        BlockResponse::Begin { .. } => "Begin",
        BlockResponse::Chunk { .. } => "Chunk",
        BlockResponse::End => "End",
        BlockResponse::Pruned { .. } => "Pruned",
        BlockResponse::Error { .. } => "Error",
    }
}

impl Read for RemoteBlock {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at < self.chunk.len() {
                let n = out.len().min(self.chunk.len() - self.at);
                out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
                self.at += n;
                self.pos += n as u64;
                return Ok(n);
            }
            if self.pos >= self.size || out.is_empty() {
                return Ok(0);
            }
            match self.next_chunk() {
                Ok(()) => self.failures = 0,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(e),
                Err(e) => {
                    self.stream = None;
                    self.failures += 1;
                    if self.failures >= self.client.attempts.max(1) {
                        return Err(std::io::Error::new(
                            e.kind(),
                            format!(
                                "{} at {}: block {} at byte {}: {e} (after {} attempts)",
                                self.client.service,
                                self.client.addr,
                                self.height,
                                self.pos,
                                self.failures
                            ),
                        ));
                    }
                    tracing::debug!(
                        height = self.height,
                        pos = self.pos,
                        "block stream broke: {e}; resuming"
                    );
                    std::thread::sleep(
                        self.client
                            .backoff
                            .saturating_mul(1 << (self.failures - 1).min(7)),
                    );
                }
            }
        }
    }
}
