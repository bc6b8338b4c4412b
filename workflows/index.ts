// The worker bundles this module: every workflow type it runs is exported here.
export { journeySession } from './journeySession';
export { reconcile } from './reconcile';
export { retentionRearm } from './retentionRearm';
export { standaloneAnalysis } from './standaloneAnalysis';
export { webhookDelivery } from './webhookDelivery';
