// The charging routes in /openapi.json: the policy, agreements, groups, bills, their explanation, closing and the
// balance, with the shapes of what they take and answer. The routes themselves are in charging.ts.

import { AUTH_ERRORS, errorResponse, json } from "../openapi-schema.js";

const decimal = { type: "string", pattern: "^-?[0-9]+(\\.[0-9]+)?$", description: "An exact decimal." };
const time = { type: "string", format: "date-time" };
const PERIOD = { type: "object", properties: { name: { type: "string" }, start: time, end: time } };
const accountPath = { name: "account", in: "path", required: true, schema: { type: "string" } };
const periodPath = {
  name: "period",
  in: "path",
  required: true,
  description: "YYYY-MM, or the start date YYYY-MM-DD for weekly periods.",
  schema: { type: "string" },
};

const AGREEMENT_BODY = {
  type: "object",
  required: ["agreement"],
  properties: {
    agreement: { type: "string" },
    from: { type: ["string", "integer"], description: "RFC 3339 or epoch ms; default now." },
  },
};

const GROUPS = {
  type: "object",
  properties: {
    account: { type: "string" },
    group: { type: ["string", "null"], description: "The group now, or null." },
    memberships: {
      type: "array",
      items: {
        type: "object",
        properties: { group: { type: ["string", "null"] }, from: time, to: { ...time, type: ["string", "null"] } },
      },
    },
  },
};

const CLOSE_OUTCOME = {
  type: "object",
  properties: {
    account: { type: "string" },
    written: { type: "integer", description: "Ledger entries written now; 0 when it was closed already." },
    existing: { type: "integer" },
    total: decimal,
    closing_balance: decimal,
  },
};

const BILL = {
  type: "object",
  description:
    "A bill: one line per resource (and instance), priced in slices wherever a price, algorithm, agreement or " +
    "policy version changes; a closed period's bill is the one closed, never rewritten. Every quantity and amount " +
    "is a decimal string.",
  properties: {
    account: { type: "string" },
    agreement: { type: "string", description: "The agreement at the period's start." },
    agreements: {
      type: "array",
      items: {
        type: "object",
        properties: {
          name: { type: "string" },
          source: { enum: ["account", "group", "default"] },
          group: { type: "string", description: "The group whose agreement it is, when source is group." },
          start: time,
          end: time,
        },
      },
    },
    period: PERIOD,
    lines: {
      type: "array",
      items: {
        type: "object",
        properties: {
          resource: { type: "string" },
          instance: { type: "string" },
          quantity: decimal,
          unit: { type: "string" },
          credits: decimal,
          slices: { type: "array", items: { type: "object" } },
        },
      },
    },
    adjustments: {
      type: "array",
      description: "Late usage of closed periods, charged in this one: the repriced total less what was charged.",
      items: { type: "object", properties: { period: { type: "string" }, credits: decimal } },
    },
    credits_granted: decimal,
    grants: { type: "array", items: { type: "object" } },
    total: decimal,
    opening_balance: decimal,
    closing_balance: { ...decimal, description: "opening + granted - total - adjustments" },
    rounding: { type: "object", properties: { digits: { type: "integer" }, mode: { type: "string" } } },
    notes: { type: "array", items: { type: "string" } },
  },
};

const EXPLAIN = {
  type: "object",
  description:
    "The bill (as GET …/bills/{period} gives it) and each line traced: per slice the agreement and where it came " +
    "from, the price list and price, the algorithm's expression, the values of its variables and the result, and " +
    "the hourly usage it summed in steps of equal hours. `total` is the sum of the lines' credits: the bill's total, " +
    "unless late usage arrived after the period was closed (a note then says so).",
  properties: {
    account: { type: "string" },
    period: PERIOD,
    policy_version: { type: "integer" },
    closed: { type: "boolean" },
    bill: BILL,
    lines: {
      type: "array",
      items: {
        type: "object",
        properties: {
          resource: { type: "string" },
          instance: { type: "string" },
          metric: { type: "string" },
          costpolicy: { type: "string" },
          unit: { type: "string" },
          quantity: decimal,
          amount: { ...decimal, description: "The exact sum of the slices' results, to 9 decimals." },
          credits: decimal,
          slices: {
            type: "array",
            items: {
              type: "object",
              properties: {
                start: time,
                end: time,
                agreement: { type: "string" },
                agreement_source: { enum: ["account", "group", "default"] },
                pricelist: { type: ["string", "null"] },
                price: decimal,
                algorithm: { type: ["string", "null"] },
                expression: { type: "string" },
                variables: { type: "object", additionalProperties: decimal },
                result: decimal,
                quantity: decimal,
                steps: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      start: time,
                      end: time,
                      hours: { type: "integer" },
                      quantity_per_hour: decimal,
                      quantity: decimal,
                      level: { type: ["string", "null"] },
                      readings: { type: "integer" },
                    },
                  },
                },
                steps_cut: { type: "integer" },
              },
            },
          },
        },
      },
    },
    total: decimal,
    step_limit: { type: "integer" },
    notes: { type: "array", items: { type: "string" } },
  },
};

/** The charging routes in /openapi.json. */
export const CHARGING_OPENAPI_PATHS = {
  "/v1/policy": {
    get: {
      operationId: "getPolicy",
      summary: "The charging policy in force (the latest version) and when each version applies from.",
      tags: ["charging"],
      responses: {
        "200": {
          description: "The latest version's YAML, and every version's start.",
          content: json({
            type: "object",
            properties: {
              version: { type: "integer" },
              from: time,
              loaded_at: time,
              text: { type: "string" },
              versions: {
                type: "array",
                items: { type: "object", properties: { version: { type: "integer" }, from: time } },
              },
            },
          }),
        },
        "404": errorResponse("No policy is loaded."),
        ...AUTH_ERRORS,
      },
    },
    put: {
      operationId: "loadPolicy",
      summary: "Check a policy (YAML) and store it as a new version, applying from `from` (admin).",
      tags: ["charging"],
      parameters: [
        {
          name: "from",
          in: "query",
          required: false,
          description: "When the version applies: RFC 3339 or epoch ms; after every earlier version's. Default now.",
          schema: { type: "string" },
        },
      ],
      requestBody: { required: true, content: { "application/yaml": { schema: { type: "string" } } } },
      responses: {
        "201": {
          description: "The version stored.",
          content: json({ type: "object", properties: { version: { type: "integer" }, from: time, loaded_at: time } }),
        },
        "400": errorResponse("The policy is not valid (the error names its line and path); nothing is stored."),
        "409": errorResponse("`from` is not after the latest version's."),
        "413": errorResponse("The policy is larger than 1 MB."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/accounts/{account}/agreement": {
    put: {
      operationId: "setAgreement",
      summary: "Give an account an agreement of the policy from a time on, until its next one (admin).",
      tags: ["charging"],
      parameters: [accountPath],
      requestBody: { required: true, content: json(AGREEMENT_BODY) },
      responses: {
        "200": {
          description: "The agreement set.",
          content: json({
            type: "object",
            properties: { account: { type: "string" }, agreement: { type: "string" }, from: time },
          }),
        },
        "400": errorResponse("The body, the time or the agreement's name is not valid."),
        "404": errorResponse("No policy is loaded."),
        "409": errorResponse("`from` is not after the account's latest agreement."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/groups/{group}/agreement": {
    put: {
      operationId: "setGroupAgreement",
      summary:
        "Give a group an agreement of the policy from a time on, until its next one; its members hold it where they " +
        "hold none of their own (admin).",
      tags: ["charging"],
      parameters: [{ name: "group", in: "path", required: true, schema: { type: "string" } }],
      requestBody: { required: true, content: json(AGREEMENT_BODY) },
      responses: {
        "200": {
          description: "The agreement set.",
          content: json({
            type: "object",
            properties: { group: { type: "string" }, agreement: { type: "string" }, from: time },
          }),
        },
        "400": errorResponse("The body, the time or the agreement's name is not valid."),
        "404": errorResponse("No policy is loaded."),
        "409": errorResponse("`from` is not after the group's latest agreement."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/accounts/{account}/group": {
    get: {
      operationId: "getAccountGroup",
      summary: "The group an account is in now, and every range it is in one.",
      tags: ["charging"],
      parameters: [accountPath],
      responses: {
        "200": { description: "The account's groups.", content: json(GROUPS) },
        ...AUTH_ERRORS,
      },
    },
    put: {
      operationId: "setAccountGroup",
      summary: "Put an account in a group (or, with null, in none) from a time on, until its next change (admin).",
      tags: ["charging"],
      parameters: [accountPath],
      requestBody: {
        required: true,
        content: json({
          type: "object",
          required: ["group"],
          properties: {
            group: { type: ["string", "null"], description: "The group, or null to leave the one it is in." },
            from: { type: ["string", "integer"], description: "RFC 3339 or epoch ms; default now." },
          },
        }),
      },
      responses: {
        "200": {
          description: "The membership set.",
          content: json({
            type: "object",
            properties: { account: { type: "string" }, group: { type: ["string", "null"] }, from: time },
          }),
        },
        "400": errorResponse("The body or the time is not valid, or null is given for an account in no group."),
        "409": errorResponse("`from` is not after the account's latest change of group."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/accounts/{account}/bills/{period}": {
    get: {
      operationId: "getBill",
      summary: "An account's bill for a period: as closed, or priced now for a period not closed.",
      tags: ["charging"],
      parameters: [accountPath, periodPath],
      responses: {
        "200": { description: "The bill.", content: json(BILL) },
        "400": errorResponse("The period is not one of the policy's."),
        "404": errorResponse("No policy is loaded."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/accounts/{account}/bills/{period}/explain": {
    get: {
      operationId: "explainBill",
      summary: "How each line of an account's bill was priced, from the same pricing run that makes the bill.",
      tags: ["charging"],
      parameters: [
        accountPath,
        periodPath,
        {
          name: "limit",
          in: "query",
          required: false,
          description: "Hourly steps listed per line, 1 to 10000 (default 800); the rest are counted in steps_cut.",
          schema: { type: "integer", minimum: 1, maximum: 10000 },
        },
      ],
      responses: {
        "200": { description: "The bill and its lines traced.", content: json(EXPLAIN) },
        "400": errorResponse("The period is not one of the policy's, or the limit is not valid."),
        "404": errorResponse("No policy is loaded."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/bills/{period}/close": {
    post: {
      operationId: "closeAll",
      summary:
        "The billing run (admin): close an ended period for every account charging or usage knows of (a series of " +
        "a charged metric, an agreement of its own, a group, a ledger entry), a page of accounts at a time. " +
        "Running it again writes nothing; a run cut short is completed by running it again.",
      tags: ["charging"],
      parameters: [periodPath],
      responses: {
        "200": {
          description: "Each account's outcome, in UTF-8 order of account.",
          content: json({ type: "object", properties: { closed: { type: "array", items: CLOSE_OUTCOME } } }),
        },
        "400": errorResponse("The period is not one of the policy's, or has not ended."),
        "404": errorResponse("No policy is loaded."),
        "409": errorResponse("A later period of an account is closed already."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/accounts/{account}/bills/{period}/close": {
    post: {
      operationId: "closePeriod",
      summary:
        "Close an ended period for an account: its grants, late adjustments and charge are written to the ledger in " +
        "one batch (admin). Closing again writes nothing.",
      tags: ["charging"],
      parameters: [accountPath, periodPath],
      responses: {
        "200": { description: "The period closed now, or already (written 0).", content: json(CLOSE_OUTCOME) },
        "400": errorResponse("The period is not one of the policy's, or has not ended."),
        "404": errorResponse("No policy is loaded."),
        "409": errorResponse("A later period of the account is closed already."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/accounts/{account}/balance": {
    get: {
      operationId: "getBalance",
      summary:
        "An account's credit balance: the closed periods' closing balance plus the open period so far. Reads only.",
      tags: ["charging"],
      parameters: [accountPath],
      responses: {
        "200": {
          description: "The balance.",
          content: json({
            type: "object",
            properties: {
              account: { type: "string" },
              at: time,
              closed_balance: decimal,
              closed_through: { type: ["string", "null"], description: "The latest closed period." },
              open_period: PERIOD,
              credits_granted: decimal,
              charges: { ...decimal, description: "The open period's charges for its whole hours so far." },
              adjustments: decimal,
              balance: decimal,
            },
          }),
        },
        "404": errorResponse("No policy is loaded."),
        ...AUTH_ERRORS,
      },
    },
  },
};
