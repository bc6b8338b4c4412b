import http from 'node:http';

/**
 * Announces a 14 MB body, sends only its first kilobyte and waits for the answer. A server
 * that reads the body before looking at the token never answers (the rest never comes), so
 * a test using this fails by timeout on such a server.
 */
export function answerBeforeBody(baseUrl: string, path: string): Promise<{ status: number; body: string; connection?: string }> {
  const url = new URL(baseUrl + path);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(14 * 1024 * 1024) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection });
        });
      },
    );
    req.on('error', reject);
    req.write(`{"type":"passport","fileName":"a.jpg","contentType":"image/jpeg","contentBase64":"${'A'.repeat(1024)}`);
  });
}
