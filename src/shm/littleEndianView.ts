import { isFileBacked } from './fileBuffer.js';

/** The part of DataView a ShareableList reads and writes its slots with (always little-endian). */
export interface LittleEndianView {
  getInt32(offset: number, littleEndian: true): number;
  setInt32(offset: number, value: number, littleEndian: true): void;
  getFloat64(offset: number, littleEndian: true): number;
  setFloat64(offset: number, value: number, littleEndian: true): void;
  getBigInt64(offset: number, littleEndian: true): bigint;
  setBigInt64(offset: number, value: bigint, littleEndian: true): void;
  getUint8(offset: number): number;
  setUint8(offset: number, value: number): void;
}

/**
 * A DataView over `buf` when it is mapped memory (V8 compiles DataView
 * accesses to plain loads and stores, faster than Buffer's checked readXxx);
 * where buf is file-backed (no native addon), which has no ArrayBuffer, the
 * same methods through its readXxx/writeXxx, one positioned read or write each.
 */
export function littleEndianView(buf: Buffer): LittleEndianView {
  if (!isFileBacked(buf)) return new DataView(buf.buffer, buf.byteOffset, buf.length);
  return {
    getInt32: (offset) => buf.readInt32LE(offset),
    setInt32: (offset, value) => void buf.writeInt32LE(value, offset),
    getFloat64: (offset) => buf.readDoubleLE(offset),
    setFloat64: (offset, value) => void buf.writeDoubleLE(value, offset),
    getBigInt64: (offset) => buf.readBigInt64LE(offset),
    setBigInt64: (offset, value) => void buf.writeBigInt64LE(value, offset),
    getUint8: (offset) => buf.readUInt8(offset),
    setUint8: (offset, value) => void buf.writeUInt8(value, offset),
  };
}
