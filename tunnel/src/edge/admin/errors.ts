// Admin API errors in ngrok's body shape: {error_code, status_code, msg, details}. Codes are
// ngrok's where ngrok has one (ERR_NGROK_7124 route not found, ERR_NGROK_214 unknown field…).
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  body(operationId: string): {
    error_code: string;
    status_code: number;
    msg: string;
    details: Record<string, unknown>;
  } {
    return {
      error_code: this.code,
      status_code: this.status,
      msg: this.message,
      details: { ...this.details, operation_id: operationId },
    };
  }
}

export const badRequest = (code: string, message: string, details?: Record<string, unknown>) =>
  new AdminApiError(400, code, message, details);
export const notFound = (code: string, message: string) => new AdminApiError(404, code, message);
