import type { Common } from '@ethereumjs/common';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { shardOf, signTransaction, type DevAccount, type Placement } from '@shardlab/chain';
import { toHex } from '@shardlab/common';
import { TxStatus, type Account, type GatewayServiceClient, type SendRawTransactionResponse } from '@shardlab/proto';
import { streamCall, unaryCall } from '@shardlab/rpc';
import { COUNTER_INIT_CODE } from './workload';

/** Sends a signed transaction through the gateway and waits for its terminal status. */
async function sendAndWait(gateway: GatewayServiceClient, raw: Uint8Array): Promise<TxStatus> {
  const sent = await unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
  let last = TxStatus.TX_STATUS_UNSPECIFIED;
  for await (const s of streamCall('gateway', (md, o) => gateway.watchTransaction({ txHash: sent.txHash }, md, o))) last = s.status;
  return last;
}

/**
 * Deploys one counter contract (see {@link COUNTER_INIT_CODE}) on every shard that has a
 * development account, from that account, as a local transaction: the deployer first sends
 * zero-value transactions to itself until its next contract address is placed on its own shard.
 * Returns the counter address of each shard.
 * @throws Error when a deployment does not end final.
 */
export async function deployCounters(gateway: GatewayServiceClient, common: Common, placement: Placement, accounts: readonly DevAccount[]): Promise<Map<number, string>> {
  const counters = new Map<number, string>();
  await Promise.all(
    Array.from({ length: placement.shardCount }, async (_, shard) => {
      const deployer = accounts.find((a) => shardOf(placement, a.address) === shard);
      if (!deployer) return;
      let nonce = BigInt((await unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address: deployer.address }, md, o, cb))).nonce);
      const addressAt = (n: bigint) => toHex(createContractAddress(createAddressFromString(deployer.address), n).bytes);
      while (shardOf(placement, addressAt(nonce)) !== shard) {
        await sendAndWait(gateway, signTransaction(common, deployer, { to: deployer.address, value: 0n, nonce }));
        nonce += 1n;
      }
      const status = await sendAndWait(gateway, signTransaction(common, deployer, { nonce, data: COUNTER_INIT_CODE, gasLimit: 200_000n }));
      if (status !== TxStatus.TX_STATUS_FINAL) throw new Error(`counter deployment on shard ${shard} ended ${TxStatus[status]}`);
      counters.set(shard, addressAt(nonce));
    }),
  );
  return counters;
}
