// @bsv/sdk as an independent BSM implementation. Reads one JSON request per line on stdin:
//   {"op":"sign","wif":W,"message":M}             -> {"signature":B64,"address":A}
//   {"op":"verify","address":A,"message":M,"signature":B64} -> {"valid":bool}
// and writes one JSON reply per line.
import { createInterface } from 'node:readline'
import { PrivateKey, Signature, BSM, BigNumber, Utils, Hash } from '@bsv/sdk'

const utf8 = (s) => Utils.toArray(s, 'utf8')

function verify (message, sigB64, address) {
  try {
    const bytes = Utils.toArray(sigB64, 'base64')
    if (bytes.length !== 65) return false
    const header = bytes[0]
    if (header < 27 || header > 34) return false
    const compressed = header >= 31
    const hash = new BigNumber(BSM.magicHash(utf8(message)))
    const sig = Signature.fromCompact(bytes)
    const pub = sig.RecoverPublicKey((header - 27) & 3, hash)
    if (!BSM.verify(utf8(message), sig, pub)) return false
    const got = Utils.toHex(Hash.hash160(pub.encode(compressed)))
    const { data } = Utils.fromBase58Check(address)
    return got === Utils.toHex(data)
  } catch { return false }
}

const rl = createInterface({ input: process.stdin })
for await (const line of rl) {
  if (!line.trim()) continue
  const req = JSON.parse(line)
  let reply
  if (req.op === 'sign') {
    const key = PrivateKey.fromWif(req.wif)
    reply = { signature: BSM.sign(utf8(req.message), key), address: key.toAddress() }
  } else if (req.op === 'verify') {
    reply = { valid: verify(req.message, req.signature, req.address) }
  } else {
    reply = { error: 'unknown op' }
  }
  process.stdout.write(JSON.stringify(reply) + '\n')
}
