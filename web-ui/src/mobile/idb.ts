// The outbox's IndexedDB storage: one object store of OutboxItem keyed by id. Blobs (photos) are
// stored as they are — IndexedDB keeps them across reloads and offline starts.

import type { OutboxItem, OutboxStorage } from './outbox'

const DB = 'citybrain-m'
const STORE = 'outbox'

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'))
  })
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1)
    r.onupgradeneeded = () => {
      if (!r.result.objectStoreNames.contains(STORE)) r.result.createObjectStore(STORE, { keyPath: 'id' })
    }
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('IndexedDB unavailable'))
  })
}

export class IdbStorage implements OutboxStorage {
  private db: Promise<IDBDatabase> | null = null

  private async tx(mode: IDBTransactionMode): Promise<IDBObjectStore> {
    this.db ??= open()
    return (await this.db).transaction(STORE, mode).objectStore(STORE)
  }

  async all(): Promise<OutboxItem[]> {
    return req((await this.tx('readonly')).getAll() as IDBRequest<OutboxItem[]>)
  }

  async put(item: OutboxItem): Promise<void> {
    await req((await this.tx('readwrite')).put(item))
  }

  async delete(id: string): Promise<void> {
    await req((await this.tx('readwrite')).delete(id))
  }
}

/** Whether IndexedDB can be used here (not in some private modes). */
export function hasIndexedDB(): boolean {
  return typeof indexedDB !== 'undefined'
}
