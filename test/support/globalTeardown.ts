// Jest globalTeardown: stop the run's Temporal dev server and drop its database
// (both started by ./globalSetup, whose state lives in this same jest process).
import { stopTestInfrastructure } from './globalSetup';

export default async function globalTeardown(): Promise<void> {
  await stopTestInfrastructure();
}
