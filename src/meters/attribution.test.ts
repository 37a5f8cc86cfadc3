import { describe, expect, it } from "vitest";
import { attributor, parseS3KeyFile, s3AccessKey, swiftAccount } from "./attribution.js";

describe("attribution", () => {
  const attribute = attributor({
    resellerPrefix: "AUTH_",
    s3Keys: new Map([
      ["AKIDALICE", "AUTH_alice"],
      ["v2bob", "AUTH_bob"],
    ]),
    unattributed: "nobody",
  });

  it("takes the Swift account from the path, percent-decoded, with or without a container", () => {
    expect(attribute("/v1/AUTH_x", {})).toBe("AUTH_x");
    expect(attribute("/v1/AUTH_x/", {})).toBe("AUTH_x");
    expect(attribute("/v1/AUTH_x/c/o/deep?multipart-manifest=get", {})).toBe("AUTH_x");
    expect(attribute("/v1/AUTH_x?format=json", {})).toBe("AUTH_x");
    expect(attribute("/v1/AUTH_caf%C3%A9/c", {})).toBe("AUTH_café");
  });

  it("counts what names no account under the configured one", () => {
    expect(attribute("/info", {})).toBe("nobody");
    expect(attribute("/auth/v1.0", {})).toBe("nobody");
    expect(attribute("/v1/", {})).toBe("nobody");
    expect(attribute("/v1/AUTH_", {})).toBe("nobody");
    expect(attribute("/v1/OTHER_x/c", {})).toBe("nobody");
    expect(attribute("/v1/AUTH_%ff/c", {})).toBe("nobody");
    expect(attribute("/v1/AUTH_a%0Ab/c", {})).toBe("nobody");
    expect(attribute(`/v1/AUTH_${"x".repeat(300)}/c`, {})).toBe("nobody");
  });

  it("takes another reseller prefix, or any account with an empty one", () => {
    expect(swiftAccount("/v1/SWIFT_x/c", "SWIFT_")).toBe("SWIFT_x");
    expect(swiftAccount("/v1/AUTH_x/c", "SWIFT_")).toBeNull();
    expect(swiftAccount("/v1/anything/c", "")).toBe("anything");
  });

  it("maps S3 access keys of V4 and V2 headers and presigned URLs, unknown keys to the configured account", () => {
    const v4 =
      "AWS4-HMAC-SHA256 Credential=AKIDALICE/20261206/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
    expect(attribute("/bucket/key", { authorization: v4 })).toBe("AUTH_alice");
    expect(attribute("/bucket/key", { authorization: "AWS v2bob:c2lnbmF0dXJl" })).toBe("AUTH_bob");
    expect(attribute("/bucket/key", { authorization: "AWS stranger:sig" })).toBe("nobody");
    expect(
      attribute("/b/k?X-Amz-Credential=AKIDALICE%2F20261206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x", {}),
    ).toBe("AUTH_alice");
    expect(attribute("/b/k?AWSAccessKeyId=v2bob&Signature=x&Expires=1", {})).toBe("AUTH_bob");
    // An S3 signature wins over a Swift-looking path: the key is who pays.
    expect(attribute("/v1/AUTH_x/c", { authorization: "AWS v2bob:sig" })).toBe("AUTH_bob");
    // Swift's own tokens are not S3 keys.
    expect(attribute("/v1/AUTH_x/c", { authorization: "Bearer tok" })).toBe("AUTH_x");
  });

  it("reads the access key of each header form", () => {
    expect(s3AccessKey("AWS4-HMAC-SHA256 Credential=K1/d/r/s3/aws4_request,SignedHeaders=host,Signature=s")).toBe("K1");
    expect(s3AccessKey("AWS4-HMAC-SHA256 SignedHeaders=host")).toBeNull();
    expect(s3AccessKey("AWS K2:sig")).toBe("K2");
    expect(s3AccessKey("AWS :sig")).toBeNull();
    expect(s3AccessKey("Basic xyz")).toBeUndefined();
  });
});

describe("the S3 key file", () => {
  it("reads KEY ACCOUNT and KEY,ACCOUNT lines with comments, and JSON objects", () => {
    const lines = parseS3KeyFile("# keys\nAKID1 AUTH_a\n\nAKID2,AUTH_b\nAKID3 ,  AUTH c \n", "keys.txt");
    expect([...lines]).toEqual([
      ["AKID1", "AUTH_a"],
      ["AKID2", "AUTH_b"],
      ["AKID3", "AUTH c"],
    ]);
    expect([...parseS3KeyFile('{"K": "AUTH_k"}', "keys.json")]).toEqual([["K", "AUTH_k"]]);
  });

  it("refuses a line it cannot read, naming it, and keys given twice", () => {
    expect(() => parseS3KeyFile("AKID1 AUTH_a\nlonely\n", "keys.txt")).toThrow(
      "keys.txt: line 2: expected KEY ACCOUNT",
    );
    expect(() => parseS3KeyFile("K A\nK B\n", "keys.txt")).toThrow("line 2: key K is given to two accounts");
    expect(() => parseS3KeyFile('{"K": 1}', "keys.json")).toThrow("the account of key K is not a string");
    expect(() => parseS3KeyFile("K AUTH_\u0007\n", "keys.txt")).toThrow("cannot be an account");
  });
});
