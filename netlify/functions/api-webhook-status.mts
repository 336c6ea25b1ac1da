import { handleStatusRequest } from '../../src/node/status.ts';

// The status page's data (public/status.html): GET ?window=1h|24h|7d with Authorization: Bearer $STATUS_PAGE_TOKEN.
export default (request: Request) => handleStatusRequest(request);
