export interface BareActivities {
  post(url: string, body: string): Promise<void>;
}

export const bareActivities: BareActivities = {
  async post(url, body) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`receiver answered ${res.status}`);
  },
};
