// The web-spv page: fetch a proof and a header from the JSON API, check them in wasm.
// The verifier is loaded inside a try (a static import would fail before any of this code
// runs, leaving "Loading…" forever): when it cannot load, the page says why.
let verifyBump, checkHeader, nextCheckpoint, anchorHeader

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

function describeHeader (pow, answer, chain) {
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
  if (chain) add('best chain', chain)
  add('transactions', answer.tx_count)
  add('bundle', `${answer.bundle} (${answer.infohash_v1})`)
}

// The server's headers from `from` to `to`, in pages of 2000 (the API's most), as one hex
// string; it stops early where the server has no more (the check then says so).
async function headersHex (from, to) {
  let hex = ''
  for (let h = from; h <= to;) {
    const count = Math.min(2000, to - h + 1)
    const resp = await fetch(`/v1/headers?from=${h}&count=${count}`)
    if (!resp.ok) break
    const page = await resp.json()
    for (const e of page) {
      if (e.height !== h) return hex
      hex += e.header
      h++
    }
    if (page.length < count) break
  }
  return hex
}

// Asks the chain tracker the user named whether the header's merkle root is the one of the
// best chain at that height (the Block Headers Service's route, as @bsv/sdk asks it).
async function trackerConfirms (tracker, height, merkleRoot) {
  const resp = await fetch(`${tracker.replace(/\/+$/, '')}/api/v1/chain/merkleroot/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify([{ blockHeight: height, merkleRoot }])
  })
  if (!resp.ok) throw new Error(`the chain tracker answered ${resp.status}`)
  const v = await resp.json()
  return v.confirmationState
}

// Ties the proof's header to the best chain without trusting this server: by the headers
// from it to the next checkpoint compiled into the verifier, and by the named tracker.
// Returns what was established, or throws with the reason.
async function bestChain (answer, tracker) {
  const said = []
  const cp = JSON.parse(nextCheckpoint(answer.height))
  if (cp) {
    const chain = await headersHex(answer.height, cp.height)
    const a = JSON.parse(anchorHeader(answer.height, answer.header, chain))
    said.push(`linked through ${a.headers} header(s) to the checkpoint at ${a.checkpoint_height} (${a.checkpoint_hash})`)
  }
  if (tracker) {
    const merkleRoot = JSON.parse(checkHeader(answer.header)).merkle_root
    const state = await trackerConfirms(tracker, answer.height, merkleRoot)
    if (state !== 'CONFIRMED') throw new Error(`not on the best chain: the chain tracker ${tracker} says ${state} for block ${answer.height}`)
    said.push(`confirmed by the chain tracker ${tracker}`)
  }
  if (said.length === 0) {
    throw new Error(`UNVERIFIED: block ${answer.height} is past the last checkpoint this verifier carries; name an independent chain tracker to check its header`)
  }
  return said.join('; ')
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
  let r
  try {
    r = JSON.parse(verifyBump(txid, bump, answer.header, answer.height, answer.tx_count))
    for (const l of r.levels) {
      body.appendChild(row([l.level, l.offset, l.node, `${l.sibling} (${l.sibling_side}${l.duplicate ? ', duplicated' : ''})`, l.parent]))
    }
  } catch (e) {
    $('details').hidden = false
    show('bad', `REJECTED: ${e.message}`)
    return
  }
  $('details').hidden = false
  show('wait', 'The proof holds; tying the header to the best chain…')
  let chain
  try {
    chain = await bestChain(answer, $('tracker').value.trim())
  } catch (e) {
    describeHeader(pow, answer, `NOT ESTABLISHED: ${e.message}`)
    show('bad', e.message.startsWith('UNVERIFIED') ? e.message : `REJECTED: ${e.message}`)
    return
  }
  describeHeader(pow, answer, chain)
  show('ok', `VERIFIED: transaction ${r.index} of block ${answer.height} (${r.block_hash}); the path reaches the merkle root ${r.merkle_root}, and the header is on the best chain`)
}

// Fetches one of the verifier's files; a miss throws with the server's reason.
async function fetchPkg (file) {
  let resp
  try {
    resp = await fetch(`/pkg/${file}`)
  } catch (e) {
    throw new Error(`${file} could not be fetched: ${e.message}`)
  }
  if (!resp.ok) {
    const reason = (await resp.text()).trim() || resp.statusText
    throw new Error(`${file}: ${resp.status} ${reason}`)
  }
  return resp
}

async function load () {
  // The glue first, so that its absence is reported with the server's reason.
  await fetchPkg('web_spv.js')
  const glue = await import('/pkg/web_spv.js')
  await glue.default({ module_or_path: await fetchPkg('web_spv_bg.wasm') })
  verifyBump = glue.verifyBump
  checkHeader = glue.checkHeader
  nextCheckpoint = glue.nextCheckpoint
  anchorHeader = glue.anchorHeader
}

try {
  await load()
  show('wait', 'Ready: type a txid and press Check.')
  $('form').addEventListener('submit', check)
  document.body.dataset.ready = 'true'
} catch (e) {
  show('bad', `The verifier could not load, so nothing can be checked here: ${e.message}`)
  document.body.dataset.ready = 'false'
}
