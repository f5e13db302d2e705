// Worker thread of SignaturePool (signature-pool.ts): recovers the sender public keys of batches
// of raw signed transactions with native secp256k1, off the main thread. Plain CommonJS so that it
// runs the same under tsx, jest and plain node.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createTxFromRLP } = require('@ethereumjs/tx');
const { createCustomCommon, Hardfork, Mainnet } = require('@ethereumjs/common');
const keccak = require('keccak');
const secp = require('secp256k1');

const customCrypto = {
  keccak256: (msg) => {
    const d = keccak('keccak256').update(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength)).digest();
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  },
  ecrecover: (msgHash, v, r, s, chainId) => {
    const recovery = v === 0n || v === 1n ? v : chainId === undefined ? v - 27n : v - (chainId * 2n + 35n);
    if (recovery !== 0n && recovery !== 1n) throw new Error('invalid signature v value');
    if (r.length > 32 || s.length > 32) throw new Error('invalid signature r or s');
    const sig = new Uint8Array(64);
    sig.set(r, 32 - r.length);
    sig.set(s, 64 - s.length);
    return secp.ecdsaRecover(sig, Number(recovery), msgHash, false).subarray(1);
  },
};
const common = createCustomCommon({ chainId: workerData.chainId, name: `shardlab-${workerData.chainId}` }, Mainnet, {
  hardfork: Hardfork.Cancun,
  customCrypto,
});

parentPort.on('message', (batch) => {
  const out = batch.raws.map((raw) => {
    try {
      return createTxFromRLP(raw, { common }).getSenderPublicKey();
    } catch {
      return null; // the main thread decodes again and reports the precise error
    }
  });
  parentPort.postMessage({ id: batch.id, keys: out });
});
