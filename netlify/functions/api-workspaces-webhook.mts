import type { Context } from '@netlify/functions';
import { handleNetlifyRequest } from '../../src/node/netlify.ts';

// The original synchronous receiver, kept as the documented fallback: same verification and
// handlers, but every event's work is done before answering (slow for popular repositories).
export default (request: Request, context: Context) => handleNetlifyRequest(request, context, 'sync');
