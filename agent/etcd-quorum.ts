import type { Store } from './store/store.js';

/** One etcd member, as the member list reports it. */
export interface EtcdMember {
  readonly ID: string;
  /** The member's name: its node's, once the member has started ('' before). */
  readonly name: string;
  readonly peerURLs: string[];
  readonly clientURLs: string[];
  readonly isLearner: boolean;
}

export async function listMembers(store: Store): Promise<EtcdMember[]> {
  const { members } = (await store.client.cluster.memberList({})) as { members: EtcdMember[] };
  return members;
}

/** The votes a cluster of `voters` needs for any decision. */
export const majority = (voters: number): number => Math.floor(voters / 2) + 1;

/** Whether the member at `clientUrl` answers a status request within 500 ms. */
async function memberAnswers(store: Store, clientUrl: string | undefined): Promise<boolean> {
  return clientUrl ? (await store.memberStatus(clientUrl, 500)) !== undefined : false;
}

/**
 * Whether etcd keeps its quorum without `node`'s member: true when the node hosts no voter,
 * or when the voters on other nodes that answer make a majority of all voters.
 */
export async function quorumWithout(store: Store, node: string): Promise<boolean> {
  const voters = (await listMembers(store)).filter((m) => !m.isLearner);
  if (!voters.some((m) => m.name === node)) return true;
  const others = await Promise.all(
    voters.filter((m) => m.name !== node).map((m) => memberAnswers(store, m.clientURLs[0])),
  );
  return others.filter(Boolean).length >= majority(voters.length);
}
