// @bsv/sdk as a wallet uses this service: reads {"tracker": URL, "items": [{"txid", "beef"
// (hex), "raw" (hex), "height", "coinbase"}]} on stdin; for each item parses the BEEF with
// Transaction.fromAtomicBEEF, checks it is the transaction asked for, byte for byte what the
// SDK itself writes (toAtomicBEEF), and verifies it against the service as chain tracker
// (new BlockHeadersService(URL)): Transaction.verify for every transaction but a coinbase;
// a coinbase through computeRoot and isValidRootForHeight, since @bsv/sdk 2.1.0's
// MerklePath.verify refuses every coinbase more than 100 blocks deep (its maturity test is
// inverted). Then one byte of each BEEF is changed (in the transaction, and in the BUMP) and
// must not verify. Writes {"checked", "verified", "coinbases", "stock_coinbase_refused",
// "tampered_rejected", "tampered", "failures": [...]}.
import { Transaction, BlockHeadersService, Utils } from '@bsv/sdk'

let input = ''
for await (const chunk of process.stdin) input += chunk
for (const line of input.split('\n').filter(l => l.trim() !== '')) {
  const req = JSON.parse(line)
  const tracker = new BlockHeadersService(req.tracker)
  const out = { checked: 0, verified: 0, coinbases: 0, stock_coinbase_refused: 0, tampered: 0, tampered_rejected: 0, failures: [] }
  // Verifies a BEEF the way a wallet would; true only when every check passes.
  const verifies = async (bytes, coinbase) => {
    const tx = Transaction.fromAtomicBEEF(bytes)
    if (coinbase) {
      const root = tx.merklePath.computeRoot(tx.id('hex'))
      return await tracker.isValidRootForHeight(root, tx.merklePath.blockHeight)
    }
    return await tx.verify(tracker)
  }
  for (const it of req.items) {
    out.checked++
    try {
      const bytes = Utils.toArray(it.beef, 'hex')
      const tx = Transaction.fromAtomicBEEF(bytes)
      if (tx.id('hex') !== it.txid) throw new Error(`BEEF holds ${tx.id('hex')}`)
      if (tx.toHex() !== it.raw) throw new Error('raw transaction differs from /v1/tx')
      if (Utils.toHex(tx.toAtomicBEEF()) !== it.beef) throw new Error('the SDK writes other bytes for this BEEF')
      if (tx.merklePath.blockHeight !== it.height) throw new Error(`BUMP height ${tx.merklePath.blockHeight}`)
      if (!(await verifies(bytes, it.coinbase))) throw new Error('did not verify')
      out.verified++
      if (it.coinbase) {
        out.coinbases++
        if (!(await tx.merklePath.verify(it.txid, tracker))) out.stock_coinbase_refused++
      }
      // One byte changed in the transaction (its last byte: the lock time), then one in
      // the BUMP (the last byte of its first hash).
      // Atomic V1 layout: prefix and txid (36), version (4), one BUMP, one tx, flag, index.
      const txAt = bytes.length - 3
      const bumpAt = 4 + 32 + 4 + 1 + Utils.toArray(tx.merklePath.toHex(), 'hex').length - 1
      for (const at of [txAt, bumpAt]) {
        const bad = bytes.slice()
        bad[at] ^= 0x01
        out.tampered++
        let ok = false
        try { ok = await verifies(bad, it.coinbase) } catch (e) { ok = false }
        if (!ok) out.tampered_rejected++
        else out.failures.push(`${it.txid}: a BEEF changed at byte ${at} still verified`)
      }
    } catch (e) {
      out.failures.push(`${it.txid}: ${e.message}`)
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}
