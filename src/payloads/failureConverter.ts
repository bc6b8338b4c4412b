// Loaded by path (the workflow sandbox and the worker): failure messages and stack traces,
// which can echo data, are moved into an encoded attributes payload and so go through the codec.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
