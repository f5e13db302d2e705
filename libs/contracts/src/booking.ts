// The booking scenario on a network: its shard layout, deployment from a dev account whose CREATE address lands on the chosen shard, and reading seats and bookings
/**
 * The booking scenario (shared by the booking test and the scenario runner): a train and a hotel
 * contract on two shards and a travel agency on a third whose `bookTrainAndHotel` books both
 * atomically; the traders are on a fourth.
 */
import type { DevAccount } from '@shardlab/chain';
import { TxStatus } from '@shardlab/proto';
import { mappingSlot, slotKey, word } from './abi';
import { createdBy, type NetClient } from './client';
import { SLOT_BOOKINGS, SLOT_LEFT, type Compiled } from './booking-contracts';

/** Train, hotel, agency and traders on four different shards. */
export const BOOKING_LAYOUT = { train: 0, hotel: 2, agency: 3, trader: 1 } as const;

/** Seats/rooms left and bookings of each `who`, of a Train or Hotel contract. */
export async function bookingState(net: NetClient, contract: string, who: DevAccount[]): Promise<{ left: bigint; bookings: bigint[] }> {
  const [left, ...bookings] = await net.storage(contract, [slotKey(SLOT_LEFT), ...who.map((w) => mappingSlot(w.address, SLOT_BOOKINGS))]);
  return { left: left!, bookings };
}

/**
 * Deploys `contract` (with constructor `args`) by a local transaction from a development account
 * on `shardId` (not in `exclude`) whose created address is on the same shard, burning nonces with
 * zero-value self-transfers where needed. Returns the contract address.
 * @throws Error when a transaction does not end as expected.
 */
export async function deployOn(net: NetClient, shardId: number, contract: Compiled, args: (bigint | string)[], exclude: DevAccount[]): Promise<string> {
  for (const a of net.on(shardId).filter((x) => !exclude.includes(x))) {
    const start = BigInt((await net.account(a.address)).nonce);
    for (let n = start; n < start + 8n; n++) {
      if (net.shardOf(createdBy(a, n)) !== shardId) continue;
      for (let k = start; k < n; k++) {
        const { final } = await net.send(a, { to: a.address, data: '', gasLimit: 21_000n });
        if (final.status !== TxStatus.TX_STATUS_FINAL) throw new Error(`nonce burn of ${a.address}: ${TxStatus[final.status]}`);
      }
      const { sent, final } = await net.send(a, { data: contract.bytecode + args.map(word).join('') });
      if (sent.crossShard || final.status !== TxStatus.TX_STATUS_FINAL || !final.receipt?.success) {
        throw new Error(`deployment from ${a.address}: crossShard=${sent.crossShard} ${TxStatus[final.status]} success=${final.receipt?.success} ${final.reason}`);
      }
      const address = createdBy(a, n);
      if (net.shardOf(address) !== shardId) throw new Error(`${address} is not on shard ${shardId}`);
      return address;
    }
  }
  throw new Error(`no development account on shard ${shardId} creates a contract there within 8 nonces`);
}
