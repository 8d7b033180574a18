// Package taxonomy is the category vocabulary of the platform: one code per
// kind of problem, grouped in families (the fusion rule only joins events of
// one family), with the responsible department, a default severity, the
// time allowed, and the names each source uses for it. It is built from the
// 数字城管 事件/部件 大类–小类 (GB/T 30428.2), the 12345 诉求 contents, and the
// emergency and traffic event types. See docs/taxonomy.md.
package taxonomy

import (
	"fmt"
	"strings"
	"time"
)

// Category is one entry of the taxonomy.
type Category struct {
	Code       string        // e.g. "city.environment.garbage"
	Name       string        // 简体中文 display name
	NameEn     string        // English display name (the UI's English mode)
	Family     string        // fusion family, e.g. "fire"
	Department string        // responsible department (default routing)
	Severity   int           // default severity, 1 (I) … 4 (IV)
	Allowed    time.Duration // default time allowed for the task
	Aliases    []string      // names sources use: 小类 names, alarm types …
}

var categories = []Category{
	// 数字城管 事件 (events)
	{"city.street.vendor", "占道经营", "Street vending", "street_order", "城市管理局", 4, 24 * time.Hour, []string{"占道经营", "流动摊贩", "无照经营游商", "店外经营"}},
	{"city.street.parking", "违章停车", "Illegal parking", "street_order", "公安局交警大队", 4, 4 * time.Hour, []string{"违章停车", "乱停车", "违停"}},
	{"city.environment.garbage", "垃圾堆放", "Garbage dumping", "sanitation", "城市管理局", 4, 24 * time.Hour, []string{"垃圾堆放", "暴露垃圾", "积存垃圾渣土", "乱扔垃圾"}},
	{"city.environment.sewage", "污水外溢", "Sewage overflow", "water", "住房和城乡建设局", 3, 12 * time.Hour, []string{"污水外溢", "污水冒溢"}},
	{"city.environment.pollution", "环境污染", "Pollution", "environment", "生态环境局", 3, 48 * time.Hour, []string{"环境污染", "焚烧垃圾", "露天烧烤", "油烟污染", "异味"}},
	{"city.environment.noise", "噪声扰民", "Noise nuisance", "noise", "生态环境局", 4, 48 * time.Hour, []string{"噪声扰民", "施工噪声", "噪音"}},
	{"city.construction.illegal", "违法建设", "Illegal construction", "construction", "城市管理局", 4, 72 * time.Hour, []string{"违法建设", "违章搭建", "私搭乱建"}},
	{"city.construction.site", "施工管理", "Construction site", "construction", "住房和城乡建设局", 4, 48 * time.Hour, []string{"施工扰民", "工地扬尘", "道路遗撒"}},
	{"city.ads.illegal", "违规广告", "Illegal advertising", "street_order", "城市管理局", 4, 48 * time.Hour, []string{"非法小广告", "违规广告", "张贴小广告"}},
	// 数字城管 部件 (components)
	{"city.component.manhole", "井盖缺失破损", "Manhole cover fault", "road_asset", "住房和城乡建设局", 3, 4 * time.Hour, []string{"井盖缺失", "井盖破损", "井盖"}},
	{"city.component.streetlight", "路灯故障", "Streetlight fault", "road_asset", "城市管理局", 4, 48 * time.Hour, []string{"路灯不亮", "路灯故障", "路灯"}},
	{"city.component.road", "道路破损", "Road damage", "road_asset", "交通运输局", 4, 72 * time.Hour, []string{"道路破损", "路面坑洼", "坑洼"}},
	{"city.component.greenery", "绿化损坏", "Greenery damage", "greenery", "城市管理局", 4, 72 * time.Hour, []string{"绿化损坏", "树木倒伏", "毁绿"}},
	{"city.component.facility", "公共设施损坏", "Public facility damage", "road_asset", "城市管理局", 4, 72 * time.Hour, []string{"护栏损坏", "公共设施损坏", "交通标志损坏"}},
	// 12345 民生诉求
	{"service.water.supply", "供水问题", "Water supply", "utility_water", "水务集团", 3, 24 * time.Hour, []string{"停水", "供水", "水压低", "水质"}},
	{"service.power.supply", "供电问题", "Power supply", "utility_power", "供电公司", 3, 24 * time.Hour, []string{"停电", "供电"}},
	{"service.gas.supply", "供气问题", "Gas supply", "gas", "燃气公司", 3, 24 * time.Hour, []string{"停气", "燃气"}},
	{"service.property", "物业管理", "Property management", "property", "住房和城乡建设局", 4, 15 * 24 * time.Hour, []string{"物业管理", "物业服务"}},
	{"service.labour", "劳动保障", "Labour dispute", "labour", "人力资源和社会保障局", 4, 15 * 24 * time.Hour, []string{"拖欠工资", "劳动保障", "欠薪"}},
	{"service.market", "市场监管", "Market regulation", "market", "市场监督管理局", 4, 15 * 24 * time.Hour, []string{"食品安全", "消费纠纷", "价格", "市场监管"}},
	{"service.consult", "政策咨询", "Policy inquiry", "consult", "12345热线办", 4, 5 * 24 * time.Hour, []string{"政策咨询", "咨询"}},
	// 应急 emergency
	{"emergency.fire", "火灾", "Fire", "fire", "消防救援大队", 2, time.Hour, []string{"火灾", "火警", "119", "烟感报警", "smoke", "fire"}},
	{"emergency.gas_leak", "燃气泄漏", "Gas leak", "gas", "燃气公司", 2, time.Hour, []string{"燃气泄漏", "燃气报警", "gas"}},
	{"emergency.flood", "积水内涝", "Waterlogging", "water", "水利局", 3, 2 * time.Hour, []string{"积水", "内涝", "水位超警", "water_level", "flood"}},
	{"emergency.medical", "医疗急救", "Medical emergency", "medical", "卫生健康委员会", 2, time.Hour, []string{"120", "急救", "medical"}},
	{"emergency.public_security", "治安警情", "Public security", "public_security", "公安局", 3, time.Hour, []string{"110", "治安", "打架斗殴", "police"}},
	{"emergency.safety_hazard", "安全隐患", "Safety hazard", "safety", "应急管理局", 3, 24 * time.Hour, []string{"安全隐患", "危房", "消防通道堵塞"}},
	{"emergency.weather", "气象预警", "Weather warning", "weather", "应急管理局", 3, 6 * time.Hour, []string{"暴雨", "台风", "大风", "寒潮", "高温", "weather", "Met"}},
	{"emergency.geo", "地质灾害", "Geological hazard", "weather", "自然资源和规划局", 2, 2 * time.Hour, []string{"地震", "滑坡", "Geo"}},
	// 交通 traffic
	{"traffic.accident", "交通事故", "Traffic accident", "traffic_accident", "公安局交警大队", 3, time.Hour, []string{"交通事故", "accident", "事故"}},
	{"traffic.congestion", "交通拥堵", "Traffic congestion", "traffic_flow", "公安局交警大队", 4, 2 * time.Hour, []string{"拥堵", "congestion"}},
	{"traffic.closure", "道路封闭", "Road closure", "traffic_flow", "交通运输局", 4, 6 * time.Hour, []string{"道路封闭", "封路", "closure"}},
	{"traffic.signal", "信号灯故障", "Traffic signal fault", "road_asset", "公安局交警大队", 3, 4 * time.Hour, []string{"信号灯故障", "红绿灯故障", "signal"}},
	{"traffic.overload", "超限超载", "Overloaded vehicle", "traffic_enforcement", "交通运输局", 4, 24 * time.Hour, []string{"超载", "治超", "overload"}},
	// fallback
	{"other", "其他", "Other", "other", "12345热线办", 4, 5 * 24 * time.Hour, []string{"其他"}},
}

var (
	byCode  = map[string]*Category{}
	byAlias = map[string]*Category{}
)

func init() {
	for i := range categories {
		c := &categories[i]
		if _, dup := byCode[c.Code]; dup {
			panic("taxonomy: duplicate code " + c.Code) // a programming error in the table above
		}
		byCode[c.Code] = c
		byAlias[strings.ToLower(c.Name)] = c
		for _, a := range c.Aliases {
			byAlias[strings.ToLower(a)] = c
		}
	}
}

// All returns every category in table order. The slice must not be modified.
func All() []Category { return categories }

// notOnPatrol are the categories a grid worker does not report from the
// street: a policy question is a caller's (12345), a weather warning the
// meteorological service's (a CAP feed). The phone's report form leaves
// them out; intake still takes them from any source.
var notOnPatrol = map[string]bool{"service.consult": true, "emergency.weather": true}

// OnPatrol reports whether a grid worker reports this category from the
// field (the phone's report form offers it).
func (c Category) OnPatrol() bool { return !notOnPatrol[c.Code] }

// Lookup finds a category by its code, its Chinese name, or an alias
// (case-insensitive). The error names the value that was not found.
func Lookup(s string) (Category, error) {
	s = strings.TrimSpace(s)
	if c, ok := byCode[s]; ok {
		return *c, nil
	}
	if c, ok := byAlias[s]; ok {
		return *c, nil
	}
	if c, ok := byAlias[strings.ToLower(s)]; ok {
		return *c, nil
	}
	return Category{}, fmt.Errorf("unknown category %q", s)
}
