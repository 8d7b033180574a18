// UI text in 简体中文 (the default) and English. Data from the server (town names, titles) is
// shown as it comes; category names in English come from the taxonomy (categories.ts).
// Pick the language with ?lang=en|zh (remembered) or setLocale().
//
// t() reads a reactive locale, so templates and computed values that call it update when the
// language changes.

import { ref } from 'vue'

export type Locale = 'zh' | 'en'

const zh = {
  'app.name': '城市大脑 IOC',
  'wall.title': '姜堰区城市运行管理中心',
  'wall.subtitle': '城市大脑 IOC · 一网统管',
  'wall.docTitle': '城市运行管理中心 · 大屏',
  'conn.open': '实时连接',
  'conn.quiet': '实时连接 · 暂无新数据',
  'conn.syncing': '正在同步…',
  'conn.connecting': '正在连接…',
  'conn.reconnecting': '正在重连…',
  'conn.down': '连接中断',
  'conn.downRetry': '连接中断 · {s}秒后重连',
  'conn.none': '未连接',
  'fresh.waiting': '等待数据',
  'fresh.age': '数据更新于 {age}前',
  'age.s': '{n}秒',
  'age.m': '{n}分钟',
  'age.h': '{n}小时',
  'age.d': '{n}天',
  'panel.today': '今日受理',
  'panel.today.sub': '按来源',
  'panel.cases': '案件办理',
  'panel.severity': '在办事件等级',
  'panel.severity.extra': '图上在办 {n} 件',
  'panel.top': '高发问题',
  'panel.top.sub': '在办 TOP5',
  'panel.ticker': '实时事件',
  'panel.states': '办理环节',
  'panel.states.sub': '全部案件',
  'states.empty': '暂无案件',
  'panel.ticker.extra': '最新 {n} 条',
  'kpi.sum': '合计',
  'kpi.unit': '件',
  'kpi.closedRate': '办结率',
  'kpi.open': '在办',
  'kpi.closed': '已办结',
  'kpi.total': '累计案件',
  'rank.empty': '暂无在办事件',
  'ticker.empty': '暂无事件',
  'ticker.emptyHint': '新上报的事件将实时显示在这里',
  'sev.level': '{r}级',
  'sev.1': '特别重大',
  'sev.2': '重大',
  'sev.3': '较大',
  'sev.4': '一般',
  'src.hotline': '12345热线',
  'src.grid': '网格上报',
  'src.emergency': '应急联动',
  'src.traffic': '交通事件',
  'src.hotline.short': '12345',
  'src.grid.short': '网格',
  'src.emergency.short': '应急',
  'src.traffic.short': '交通',
  'src.other': '其他',
  'src.reported': '{src}上报',
  'state.received': '已接收',
  'state.filed': '已立案',
  'state.rejected': '不予立案',
  'state.dispatched': '已派遣',
  'state.accepted': '已接单',
  'state.in_progress': '处置中',
  'state.suspended': '挂账',
  'state.extension_requested': '申请延期',
  'state.handled': '已处置',
  'state.verified': '已核查',
  'state.closed': '已结案',
  'state.visited': '已回访',
  'state.rated': '已评价',
  'state.returned': '退单',
  'state.reopened': '返工',
  'state.merged': '已合并',
  'state.unknown': '未知',
  'refusal.stale': '版本冲突，未执行（操作基于 v{base}，案件已是 v{now}）',
  'refusal.staleAny': '版本冲突，未执行（案件已被他人更新）',
  'refusal.notAllowed': '「{s}」状态下不能{a}',
  'refusal.notAllowedNow': '当前状态下不能{a}',
  'refusal.forbidden': '无权{a}',
  'refusal.invalid': '内容不符合要求',
  'role.system': '系统',
  'role.dispatcher': '派遣员',
  'role.worker': '网格员',
  'role.admin': '管理员',
  'role.viewer': '值班员',
  'role.citizen': '市民',
  'res.fire_station': '消防站',
  'res.hospital': '医院',
  'res.police': '派出所',
  'res.shelter': '应急避难场所',
  'res.water_sensor': '水位监测',
  'res.smoke_sensor': '烟感监测',
  'res.camera': '视频监控',
  'place.unplaced': '未定位',
  'cat.none': '未分类',
  'incident.generic': '事件',
  'card.close': '关闭',
  'card.state': '状态',
  'card.town': '镇（街道）',
  'card.village': '村（社区）',
  'card.grid': '网格',
  'card.address': '地址',
  'card.sources': '来源',
  'card.reports': '合并上报',
  'card.reportsN': '{n} 次',
  'card.firstSeen': '首次上报',
  'card.lastSeen': '最近上报',
  'card.department': '处置部门',
  'card.undispatched': '待派遣',
  'card.deadline': '办理时限',
  'card.overdue': '已超期',
  'card.timeline': '处置过程',
  'card.task': '工单 {id}',
  'legend.title': '图例',
  'legend.size': '圆点大小表示合并上报数',
  'legend.district': '区界',
  'legend.towns': '镇（街道）界',
  'legend.villages': '村（社区）界',
  'legend.grids': '网格',
  'legend.roads': '道路',
  'legend.schematic': '示意',
  'legend.failed': '未加载',
  'legend.note': '示意：生成的示意数据，非法定界线',
  'map.noWebgl': '地图无法显示',
  'map.noWebglHint': '本机浏览器未启用 WebGL，请开启硬件加速后刷新页面',
  'map.home': '全区',
  'map.homeTitle': '回到全区视图',
  'glyph.title': '放大后的类别符号',
  'glyph.fire': '火灾',
  'glyph.medical': '医疗急救',
  'glyph.police': '治安警情',
  'glyph.gas': '燃气',
  'glyph.flood': '积水内涝',
  'glyph.disaster': '灾害预警',
  'glyph.hazard': '安全隐患',
  'glyph.accident': '交通事故',
  'glyph.traffic': '交通',
  'glyph.garbage': '垃圾',
  'glyph.environment': '环境',
  'glyph.construction': '建设',
  'glyph.facility': '设施',
  'glyph.city': '市容秩序',
  'glyph.service': '民生服务',
  'glyph.other': '其他',
  'layer.incidents': '事件',
  'layer.heat': '热力',
  'layer.resources': '资源',
  'layer.villages': '村社区',
  'layer.grids': '网格',
  'layer.roads': '道路',
  'layer.title': '图层',
  'lang.switch': 'EN',
  'lang.switchTitle': 'Switch to English',
  'page.console': '调度工作台',
  'page.mobile': '网格员移动端',
  'page.wall': '城市运行大屏',
  'page.notFound': '页面不存在',
}

export type MessageKey = keyof typeof zh

const en: Record<MessageKey, string> = {
  'app.name': 'City Brain IOC',
  'wall.title': 'Jiangyan City Operations Center',
  'wall.subtitle': 'City Brain IOC · Unified City Management',
  'wall.docTitle': 'Operations Center · Wall',
  'conn.open': 'Live',
  'conn.quiet': 'Live · no new data',
  'conn.syncing': 'Syncing…',
  'conn.connecting': 'Connecting…',
  'conn.reconnecting': 'Reconnecting…',
  'conn.down': 'Disconnected',
  'conn.downRetry': 'Disconnected · retry in {s}s',
  'conn.none': 'Not connected',
  'fresh.waiting': 'Waiting for data',
  'fresh.age': 'Updated {age} ago',
  'age.s': '{n}s',
  'age.m': '{n} min',
  'age.h': '{n} h',
  'age.d': '{n} d',
  'panel.today': 'Reports today',
  'panel.today.sub': 'by source',
  'panel.cases': 'Cases',
  'panel.severity': 'Open incidents by level',
  'panel.severity.extra': '{n} open on map',
  'panel.top': 'Top problems',
  'panel.top.sub': 'open, top 5',
  'panel.ticker': 'Live incidents',
  'panel.states': 'Case stages',
  'panel.states.sub': 'all cases',
  'states.empty': 'No cases yet',
  'panel.ticker.extra': 'latest {n}',
  'kpi.sum': 'Total',
  'kpi.unit': '',
  'kpi.closedRate': 'closed',
  'kpi.open': 'Open',
  'kpi.closed': 'Closed',
  'kpi.total': 'All cases',
  'rank.empty': 'No open incidents',
  'ticker.empty': 'No incidents yet',
  'ticker.emptyHint': 'New reports appear here as they arrive',
  'sev.level': '{r}',
  'sev.1': 'Extreme',
  'sev.2': 'Major',
  'sev.3': 'Serious',
  'sev.4': 'General',
  'src.hotline': '12345 hotline',
  'src.grid': 'Grid patrol',
  'src.emergency': 'Emergency',
  'src.traffic': 'Traffic',
  'src.hotline.short': '12345',
  'src.grid.short': 'Grid',
  'src.emergency.short': 'Emerg.',
  'src.traffic.short': 'Traffic',
  'src.other': 'Other',
  'src.reported': 'reported by {src}',
  'state.received': 'Received',
  'state.filed': 'Filed',
  'state.rejected': 'Rejected',
  'state.dispatched': 'Dispatched',
  'state.accepted': 'Accepted',
  'state.in_progress': 'In progress',
  'state.suspended': 'Suspended',
  'state.extension_requested': 'Extension requested',
  'state.handled': 'Handled',
  'state.verified': 'Verified',
  'state.closed': 'Closed',
  'state.visited': 'Followed up',
  'state.rated': 'Rated',
  'state.returned': 'Returned',
  'state.reopened': 'Reopened',
  'state.merged': 'Merged',
  'state.unknown': 'Unknown',
  'refusal.stale': 'Conflict, not applied (based on v{base}, the case is at v{now})',
  'refusal.staleAny': 'Conflict, not applied (the case was changed by someone else)',
  'refusal.notAllowed': '{a} is not possible in state {s}',
  'refusal.notAllowedNow': '{a} is not possible now',
  'refusal.forbidden': 'Not permitted: {a}',
  'refusal.invalid': 'Not valid',
  'role.system': 'System',
  'role.dispatcher': 'Dispatcher',
  'role.worker': 'Grid worker',
  'role.admin': 'Admin',
  'role.viewer': 'Duty officer',
  'role.citizen': 'Citizen',
  'res.fire_station': 'Fire station',
  'res.hospital': 'Hospital',
  'res.police': 'Police',
  'res.shelter': 'Shelter',
  'res.water_sensor': 'Water level',
  'res.smoke_sensor': 'Smoke sensor',
  'res.camera': 'Camera',
  'place.unplaced': 'Unlocated',
  'cat.none': 'Uncategorised',
  'incident.generic': 'Incident',
  'card.close': 'Close',
  'card.state': 'State',
  'card.town': 'Town',
  'card.village': 'Village',
  'card.grid': 'Grid cell',
  'card.address': 'Address',
  'card.sources': 'Sources',
  'card.reports': 'Reports',
  'card.reportsN': '{n}',
  'card.firstSeen': 'First report',
  'card.lastSeen': 'Last report',
  'card.department': 'Department',
  'card.undispatched': 'Not yet dispatched',
  'card.deadline': 'Deadline',
  'card.overdue': 'Overdue',
  'card.timeline': 'Timeline',
  'card.task': 'Task {id}',
  'legend.title': 'Legend',
  'legend.size': 'Circle size: number of fused reports',
  'legend.district': 'District',
  'legend.towns': 'Towns',
  'legend.villages': 'Villages',
  'legend.grids': 'Grid cells',
  'legend.roads': 'Roads',
  'legend.schematic': 'schematic',
  'legend.failed': 'not loaded',
  'legend.note': 'Schematic: generated, not legal boundaries',
  'map.noWebgl': 'The map cannot be shown',
  'map.noWebglHint': 'WebGL is not available in this browser; enable hardware acceleration and reload',
  'map.home': 'District',
  'map.homeTitle': 'Back to the district view',
  'glyph.title': 'Category symbols (zoomed in)',
  'glyph.fire': 'Fire',
  'glyph.medical': 'Medical',
  'glyph.police': 'Police',
  'glyph.gas': 'Gas',
  'glyph.flood': 'Flooding',
  'glyph.disaster': 'Disaster',
  'glyph.hazard': 'Hazard',
  'glyph.accident': 'Accident',
  'glyph.traffic': 'Traffic',
  'glyph.garbage': 'Garbage',
  'glyph.environment': 'Environment',
  'glyph.construction': 'Construction',
  'glyph.facility': 'Facilities',
  'glyph.city': 'Street order',
  'glyph.service': 'Services',
  'glyph.other': 'Other',
  'layer.incidents': 'Incidents',
  'layer.heat': 'Heat',
  'layer.resources': 'Resources',
  'layer.villages': 'Villages',
  'layer.grids': 'Grid',
  'layer.roads': 'Roads',
  'layer.title': 'Layers',
  'lang.switch': '中文',
  'lang.switchTitle': '切换到中文',
  'page.console': 'Dispatcher console',
  'page.mobile': 'Grid worker app',
  'page.wall': 'Operations wall',
  'page.notFound': 'Page not found',
}

const MESSAGES: Record<Locale, Record<MessageKey, string>> = { zh, en }
const STORAGE_KEY = 'citybrain.lang'

function initialLocale(): Locale {
  try {
    const q = new URLSearchParams(location.search).get('lang')
    if (q === 'en' || q === 'zh') {
      localStorage.setItem(STORAGE_KEY, q)
      return q
    }
    const saved = localStorage.getItem(STORAGE_KEY)
    if (saved === 'en' || saved === 'zh') return saved
  } catch {
    // no storage (private mode, tests): default
  }
  return 'zh'
}

/** The current UI language (reactive). */
export const locale = ref<Locale>(typeof location === 'undefined' ? 'zh' : initialLocale())

export function setLocale(l: Locale): void {
  locale.value = l
  try {
    localStorage.setItem(STORAGE_KEY, l)
  } catch {
    // not remembered, still switched
  }
  if (typeof document !== 'undefined') document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en'
}

/** The message for key in the current language, with {name} placeholders filled. */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  const msg = MESSAGES[locale.value][key] ?? zh[key] ?? key
  if (!params) return msg
  return msg.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m))
}

/** Whether key exists (for codes that come from data, e.g. "state.<code>"). */
export function hasMessage(key: string): key is MessageKey {
  return key in zh
}

/**
 * A page's own messages, kept beside the page (console/, mobile/) instead of in this file:
 *
 *	const tc = defineMessages({ 'queue.title': '待办队列' }, { 'queue.title': 'Queue' })
 *	tc('queue.title')
 *
 * It follows the same reactive locale as t(); a key missing in English falls back to Chinese.
 */
export function defineMessages<K extends string>(
  zhMessages: Record<K, string>,
  enMessages: Partial<Record<K, string>>,
): (key: K, params?: Record<string, string | number>) => string {
  return (key, params) => {
    const msg = (locale.value === 'en' ? enMessages[key] : undefined) ?? zhMessages[key] ?? key
    if (!params) return msg
    return msg.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m))
  }
}
