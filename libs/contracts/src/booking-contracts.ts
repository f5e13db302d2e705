// The booking contracts: Solidity source of Train, Hotel and TravelAgency, their storage slots, and their compilation with solc (wasm, loaded on first use)
/**
 * Fixtures of the booking test: the Solidity of a train, a hotel and a travel agency that books
 * both atomically, compiled with solc (wasm) by {@link compileBooking}.
 */
/**
 * solc (wasm, several megabytes), loaded on the first compilation rather than when this library
 * is imported. solc ships no type declarations.
 */
function solc(): { compile(input: string): string; version(): string } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('solc') as { compile(input: string): string; version(): string };
}

export const BOOKING_SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

contract Train {
    uint256 public seatsLeft;                       // slot 0
    mapping(address => uint256) public bookings;    // slot 1

    constructor(uint256 seats) { seatsLeft = seats; }

    function book(address who) external {
        require(seatsLeft > 0, "sold out");
        seatsLeft -= 1;
        bookings[who] += 1;
    }
}

contract Hotel {
    uint256 public roomsLeft;                       // slot 0
    mapping(address => uint256) public bookings;    // slot 1

    constructor(uint256 rooms) { roomsLeft = rooms; }

    function book(address who) external {
        require(roomsLeft > 0, "sold out");
        roomsLeft -= 1;
        bookings[who] += 1;
    }
}

contract TravelAgency {
    Train public immutable train;
    Hotel public immutable hotel;

    constructor(Train t, Hotel h) { train = t; hotel = h; }

    function bookTrainAndHotel() external {
        train.book(msg.sender);
        hotel.book(msg.sender);
    }
}
`;

/** Storage slots of Train and Hotel (both: counter at 0, bookings mapping at 1). */
export const SLOT_LEFT = 0n;
export const SLOT_BOOKINGS = 1n;

export interface Compiled {
  /** Creation bytecode (hex, no 0x), constructor arguments to be appended. */
  bytecode: string;
  /** Function signature → 4-byte selector (hex, no 0x). */
  selectors: Record<string, string>;
}

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<string, Record<string, { evm: { bytecode: { object: string }; methodIdentifiers: Record<string, string> } }>>;
}

/** Compiles {@link BOOKING_SOURCE} (solc 0.8.28, optimizer on, evm version cancun). */
export function compileBooking(): Record<'Train' | 'Hotel' | 'TravelAgency', Compiled> {
  const input = {
    language: 'Solidity',
    sources: { 'Booking.sol': { content: BOOKING_SOURCE } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['evm.bytecode.object', 'evm.methodIdentifiers'] } },
    },
  };
  const out = JSON.parse(solc().compile(JSON.stringify(input))) as SolcOutput;
  const errs = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errs.length > 0) throw new Error(`solc: ${errs.map((e) => e.formattedMessage).join('\n')}`);
  const get = (name: string): Compiled => {
    const c = out.contracts['Booking.sol']![name]!;
    return { bytecode: c.evm.bytecode.object, selectors: c.evm.methodIdentifiers };
  };
  return { Train: get('Train'), Hotel: get('Hotel'), TravelAgency: get('TravelAgency') };
}
