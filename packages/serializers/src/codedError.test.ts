import { describe, expect, it } from "vitest";
import { CodedError, messageOf } from "./codedError.js";
import { DecodeError } from "./decodeError.js";

class AppError extends CodedError<"A" | "B"> {
  override readonly name = "AppError";
}
class OtherError extends CodedError<"A"> {
  override readonly name = "OtherError";
}

describe("CodedError", () => {
  it("is() tells a class and, when asked, its code — not another class with the same code", () => {
    const error: unknown = new AppError("A", "went wrong", { cause: new Error("below") });
    expect(AppError.is(error)).toBe(true);
    expect(AppError.is(error, "A")).toBe(true);
    expect(AppError.is(error, "B")).toBe(false);
    expect(OtherError.is(error, "A")).toBe(false);
    expect(AppError.is(new Error("plain"))).toBe(false);
    expect(AppError.is({ code: "A" })).toBe(false); // a shape is not an error of the class
    if (AppError.is(error)) expect(error.code).toBe("A");
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(String(error)).toBe("AppError: went wrong");
  });

  it("is the base of the serializers' DecodeError", () => {
    const error = new DecodeError("TRUNCATED", "the bytes end early");
    expect(error).toBeInstanceOf(CodedError);
    expect(DecodeError.is(error, "TRUNCATED")).toBe(true);
  });

  it("messageOf gives the message of anything thrown", () => {
    expect(messageOf(new AppError("A", "went wrong"))).toBe("went wrong");
    expect(messageOf("plain text")).toBe("plain text");
    expect(messageOf(42)).toBe("42");
  });
});
