// The web-spv page: fetch a proof and a header from the JSON API, check them in wasm.
import init, { verifyBump, checkHeader } from '/pkg/web_spv.js'

const $ = (id) => document.getElementById(id)
const verdict = $('verdict')

function show (cls, text) {
  verdict.className = cls
  verdict.textContent = text
}

function row (cells) {
  const tr = document.createElement('tr')
  for (const c of cells) {
    const td = document.createElement('td')
    td.textContent = String(c)
    tr.appendChild(td)
  }
  return tr
}

function describeHeader (pow, answer) {
  const dl = $('header')
  dl.replaceChildren()
  const add = (k, v) => {
    const dt = document.createElement('dt'); dt.textContent = k
    const dd = document.createElement('dd'); dd.textContent = v
    dl.append(dt, dd)
  }
  add('height', answer.height)
  add('block hash', pow ? pow.block_hash : answer.block_hash)
  add('proof of work', pow ? `ok: hash ≤ target ${pow.target} (bits 0x${pow.bits})` : 'FAILED')
  add('merkle root', pow ? pow.merkle_root : '')
  add('transactions', answer.tx_count)
  add('bundle', `${answer.bundle} (${answer.infohash_v1})`)
}

// Flips one bit of the proof's last hash: what a lying server could send.
function tampered (hex) {
  const last = parseInt(hex[hex.length - 1], 16) ^ 1
  return hex.slice(0, -1) + last.toString(16)
}

async function check (event) {
  event.preventDefault()
  const txid = $('txid').value.trim()
  $('details').hidden = true
  show('wait', 'Fetching the proof…')
  let answer
  try {
    const resp = await fetch(`/v1/proof/${encodeURIComponent(txid)}?format=bump`)
    answer = await resp.json()
    if (!resp.ok) {
      show('bad', `NOT FOUND: ${answer.error || resp.status}`)
      return
    }
  } catch (e) {
    show('bad', `The service could not be reached: ${e.message}`)
    return
  }
  const bump = $('tamper').checked ? tampered(answer.bump) : answer.bump
  let pow = null
  try {
    pow = JSON.parse(checkHeader(answer.header))
  } catch (e) {
    describeHeader(null, answer)
    $('details').hidden = false
    show('bad', `REJECTED: ${e.message}`)
    return
  }
  describeHeader(pow, answer)
  const body = $('path').querySelector('tbody')
  body.replaceChildren()
  try {
    const r = JSON.parse(verifyBump(txid, bump, answer.header, answer.height, answer.tx_count))
    for (const l of r.levels) {
      body.appendChild(row([l.level, l.offset, l.node, `${l.sibling} (${l.sibling_side}${l.duplicate ? ', duplicated' : ''})`, l.parent]))
    }
    $('details').hidden = false
    show('ok', `VERIFIED: transaction ${r.index} of block ${answer.height} (${r.block_hash}); the path reaches the merkle root ${r.merkle_root}`)
  } catch (e) {
    $('details').hidden = false
    show('bad', `REJECTED: ${e.message}`)
  }
}

try {
  await init()
  show('wait', 'Ready: type a txid and press Check.')
  $('form').addEventListener('submit', check)
  document.body.dataset.ready = 'true'
} catch (e) {
  show('bad', `The wasm verifier did not load (${e.message}): build it with web-spv/build.sh`)
}
