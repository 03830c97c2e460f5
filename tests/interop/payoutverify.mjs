// @bsv/sdk checks a payout the way anyone could from `ledger settle --json` alone (DESIGN
// §12): reads JSON lines {"raw_tx", "inputs": [{"txid", "vout", "satoshis",
// "locking_script"}], "outputs": [{"address", "satoshis"}]} and, for each input, runs the
// SDK's script interpreter (Spend) over our unlocking script and the stated source output;
// also checks that the transaction spends exactly the stated inputs and pays exactly the
// stated addresses and amounts. Writes {"valid": bool, "error": string|null} per line.
import { Transaction, Spend, LockingScript, P2PKH } from '@bsv/sdk'
import readline from 'node:readline'

const rl = readline.createInterface({ input: process.stdin })
for await (const line of rl) {
  if (!line.trim()) continue
  const req = JSON.parse(line)
  let valid = false
  let error = null
  try {
    const tx = Transaction.fromHex(req.raw_tx)
    if (tx.inputs.length !== req.inputs.length) throw new Error('input count differs')
    tx.inputs.forEach((input, i) => {
      const src = req.inputs[i]
      if (input.sourceTXID !== src.txid || input.sourceOutputIndex !== src.vout) {
        throw new Error(`input ${i} spends ${input.sourceTXID}:${input.sourceOutputIndex}, JSON says ${src.txid}:${src.vout}`)
      }
      const spend = new Spend({
        sourceTXID: src.txid,
        sourceOutputIndex: src.vout,
        sourceSatoshis: src.satoshis,
        lockingScript: LockingScript.fromHex(src.locking_script),
        transactionVersion: tx.version,
        otherInputs: tx.inputs.filter((_, j) => j !== i),
        outputs: tx.outputs,
        inputIndex: i,
        unlockingScript: input.unlockingScript,
        inputSequence: input.sequence,
        lockTime: tx.lockTime
      })
      if (!spend.validate()) throw new Error(`input ${i} does not validate`)
    })
    if (tx.outputs.length !== req.outputs.length) throw new Error('output count differs')
    tx.outputs.forEach((o, i) => {
      const want = req.outputs[i]
      const script = new P2PKH().lock(want.address).toHex()
      if (o.lockingScript.toHex() !== script) throw new Error(`output ${i} does not pay ${want.address}`)
      if (o.satoshis !== want.satoshis) throw new Error(`output ${i} pays ${o.satoshis}, JSON says ${want.satoshis}`)
    })
    const fee = req.inputs.reduce((a, x) => a + x.satoshis, 0) - tx.outputs.reduce((a, o) => a + o.satoshis, 0)
    if (req.fee !== undefined && fee !== req.fee) throw new Error(`fee is ${fee}, JSON says ${req.fee}`)
    if (tx.id('hex') !== req.txid) throw new Error(`txid is ${tx.id('hex')}, JSON says ${req.txid}`)
    valid = true
  } catch (e) {
    error = String(e && e.message ? e.message : e)
  }
  process.stdout.write(JSON.stringify({ valid, error }) + '\n')
}
