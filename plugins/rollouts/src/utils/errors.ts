import { ResponseError } from '@backstage/errors';

/** The server's own message when there is one, else the error's. */
export function serverMessage(error: unknown): string {
  if (error instanceof ResponseError) {
    const msg = error.body?.error?.message;
    return msg || error.message;
  }
  if (error && typeof error === 'object' && 'body' in error) {
    const body = (error as { body?: { error?: { message?: string } } }).body;
    if (body?.error?.message) return body.error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function statusOf(error: unknown): number | undefined {
  if (error instanceof ResponseError) return error.response.status;
  const s = (error as { response?: { status?: unknown } } | undefined)?.response
    ?.status;
  return typeof s === 'number' ? s : undefined;
}
