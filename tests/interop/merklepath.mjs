// @bsv/sdk checks BUMPs: reads a JSON array of {"txid", "bump" (hex), "merkle_root"} on
// stdin (txid and root in display hex), and for each computes MerklePath.fromHex(bump)
// .computeRoot(txid). Writes {"checked", "mismatches": [txid...]} on stdout.
import { MerklePath } from '@bsv/sdk'

let input = ''
for await (const chunk of process.stdin) input += chunk
const items = JSON.parse(input)
const mismatches = []
for (const it of items) {
  let ok = false
  try {
    ok = MerklePath.fromHex(it.bump).computeRoot(it.txid) === it.merkle_root
  } catch (e) {
    ok = false
  }
  if (!ok) mismatches.push(it.txid)
}
process.stdout.write(JSON.stringify({ checked: items.length, mismatches }) + '\n')
