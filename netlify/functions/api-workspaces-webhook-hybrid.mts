import type { Context } from '@netlify/functions';
import { handleNetlifyRequest } from '../../src/node/netlify.ts';

// GitHub → verify → dedup → count → quick work inline (200) or queued for the drain (202).
export default (request: Request, context: Context) => handleNetlifyRequest(request, context, 'hybrid');
