// @bsv/sdk's side of bench/verify.sh: reads the proofs verify-bench wrote (JSON lines),
// parses each BUMP with MerklePath.fromHex and checks computeRoot(txid) against the root;
// prints one JSON line with verifications per second (best of 5 passes).
import { MerklePath } from '@bsv/sdk'
import { readFileSync } from 'node:fs'

const proofs = readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l))
let best = Infinity
for (let pass = 0; pass < 5; pass++) {
  const t = process.hrtime.bigint()
  let ok = 0
  for (const p of proofs) {
    const mp = MerklePath.fromHex(p.bump)
    if (mp.blockHeight === p.height && mp.computeRoot(p.txid) === p.root) ok++
  }
  const s = Number(process.hrtime.bigint() - t) / 1e9
  if (ok !== proofs.length) throw new Error(`only ${ok} of ${proofs.length} proofs verified`)
  best = Math.min(best, s)
}
process.stdout.write(JSON.stringify({ proofs: proofs.length, sdk_per_s: proofs.length / best }) + '\n')
