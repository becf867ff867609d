/**
 * The answer a standby coordinator gives on its gRPC services (Admin, Coordination):
 * NOT_LEADER with the leader's *address* as the hint (epoch 0: it is about the coordinator,
 * not a partition) and the view's revision, so the caller can go there at once.
 */
import { NotLeaderError, type MetadataView } from '@quire/common';

/** Returns the NOT_LEADER error naming the coordinator leader the view knows, if any. */
export function coordinatorNotLeaderError(view: MetadataView): NotLeaderError {
  const leader = view.coordinatorLeader;
  return new NotLeaderError(
    leader === undefined ? 'This coordinator is not the leader and no leader is elected' : `This coordinator is not the leader; ${leader.record.address} is`,
    { leaderHint: leader?.record.address ?? '', mapRevision: view.revision },
  );
}
