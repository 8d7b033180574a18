import { createApp } from 'vue'
import App from './App.vue'
import { locale } from './lib/i18n'
import { router } from './router'
import './styles/base.css'

document.documentElement.lang = locale.value === 'zh' ? 'zh-CN' : 'en'

createApp(App).use(router).mount('#app')
