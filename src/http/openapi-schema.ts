// The pieces of OpenAPI every part of the document uses: references, JSON bodies and the error answers.

export type Schema = Record<string, unknown>;

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: Schema) => ({ "application/json": { schema } });
export const errorResponse = (description: string) => ({ description, content: json(ref("Error")) });

/** The answers every route can give besides its own. */
export const AUTH_ERRORS = {
  "401": errorResponse("No valid token: none given where one is needed, or an unknown or revoked one."),
  "403": errorResponse("The token's role does not allow this (or names another account)."),
};
