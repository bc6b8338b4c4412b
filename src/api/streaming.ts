import type { Response } from 'express';

// Writing a long response with backpressure: chunks of about CHUNK_BYTES, and when the socket's
// buffer is full (write() returns false) wait for 'drain' before producing more. A client that
// goes away ends the stream instead of leaving it waiting forever.

const CHUNK_BYTES = 64 * 1024;

export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
  }
}

export class ChunkedWriter {
  private buffer = '';
  bytes = 0;

  constructor(private readonly res: Response) {}

  /** Queues text; flushes (and waits for the socket if needed) once a chunk is full. */
  async push(text: string): Promise<void> {
    this.buffer += text;
    if (this.buffer.length >= CHUNK_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.buffer) return;
    const chunk = this.buffer;
    this.buffer = '';
    this.bytes += Buffer.byteLength(chunk);
    if (this.res.destroyed) throw new ClientGone();
    if (this.res.write(chunk)) return;
    if (this.res.destroyed) throw new ClientGone(); // 'close' may already have fired
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        this.res.off('drain', onDrain);
        this.res.off('close', onClose);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        reject(new ClientGone());
      };
      this.res.once('drain', onDrain);
      this.res.once('close', onClose);
    });
  }
}
