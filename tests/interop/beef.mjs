// @bsv/sdk builds a BEEF: reads {"raw_tx": hex, "bump": hex} on stdin, writes
// {"beef": hex (V1, as Transaction.toBEEF writes), "atomic": hex (BRC-95)} on stdout.
import { Transaction, MerklePath, Utils } from '@bsv/sdk'

let input = ''
for await (const chunk of process.stdin) input += chunk
const req = JSON.parse(input)
const tx = Transaction.fromHex(req.raw_tx)
tx.merklePath = MerklePath.fromHex(req.bump)
process.stdout.write(JSON.stringify({
  beef: Utils.toHex(tx.toBEEF()),
  atomic: Utils.toHex(tx.toAtomicBEEF())
}) + '\n')
