// @bsv/sdk checks our signed transactions with its script interpreter: reads JSON lines
// {"raw_tx": hex, "sources": [hex, ...]} (one source transaction per input, in order) and
// writes {"valid": bool, "error": string|null} per line. The sources get a one-leaf merkle
// path so that 'scripts only' verification treats them as mined.
import { Transaction, MerklePath } from '@bsv/sdk'
import readline from 'node:readline'

const rl = readline.createInterface({ input: process.stdin })
for await (const line of rl) {
  if (!line.trim()) continue
  const req = JSON.parse(line)
  let valid = false
  let error = null
  try {
    const tx = Transaction.fromHex(req.raw_tx)
    tx.inputs.forEach((input, i) => {
      const src = Transaction.fromHex(req.sources[i])
      src.merklePath = new MerklePath(1, [[{ offset: 0, hash: src.id('hex'), txid: true }]])
      input.sourceTransaction = src
    })
    valid = await tx.verify('scripts only')
  } catch (e) {
    error = String(e && e.message ? e.message : e)
  }
  process.stdout.write(JSON.stringify({ valid, error }) + '\n')
}
