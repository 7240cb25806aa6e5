/**
 * Leases on Redis: SET NX PX takes a free lease (Redis expires it on its own clock, so a crashed
 * holder's lease ends without anyone's help), and renewing or releasing checks the holder's random
 * token in one script, so a holder whose lease lapsed and was taken by another can never extend or
 * delete the other's.
 */

import { leaseToken } from './leases.js';
import type { RedisCommands } from './redis-connection.js';
import type { Lease, Leases } from './store.js';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class RedisLeases implements Leases {
  constructor(
    private readonly client: RedisCommands,
    /** `patchbay:lease:`: apart from every namespace of records. */
    private readonly prefix: string,
  ) {}

  async acquire(name: string, leaseMs: number): Promise<Lease | undefined> {
    const token = leaseToken();
    const set = await this.client.set(this.prefix + name, token, {
      condition: 'NX',
      expiration: { type: 'PX', value: Math.max(1, Math.ceil(leaseMs)) },
    });
    return set === 'OK' ? { name, token } : undefined;
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    const reply = await this.client.eval(RENEW, {
      keys: [this.prefix + lease.name],
      arguments: [lease.token, String(Math.max(1, Math.ceil(leaseMs)))],
    });
    return reply === 1;
  }

  async release(lease: Lease): Promise<boolean> {
    const reply = await this.client.eval(RELEASE, {
      keys: [this.prefix + lease.name],
      arguments: [lease.token],
    });
    return reply === 1;
  }
}
